-- Each user's interface language (issue 6, "Language"): Simplified Chinese unless they switch;
-- stored on the user so the choice follows them to any browser.

ALTER TABLE users ADD COLUMN IF NOT EXISTS lang text NOT NULL DEFAULT 'zh'
    CHECK (lang IN ('zh', 'en'));
