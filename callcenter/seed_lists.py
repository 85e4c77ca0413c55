"""Static lists for the demo city: towns, place-name parts, personal names, roads, notes."""

from __future__ import annotations

# Towns and streets per district, in the order of /work/shared/data/README.md, with pinyin.
# Codes are generated as district code + 3-digit sequence (official codes were not verified).
TOWNS: dict[str, tuple[tuple[str, str], ...]] = {
    "371002": (("环翠楼街道", "Huancuilou"), ("鲸园街道", "Jingyuan"), ("竹岛街道", "Zhudao"),
               ("嵩山街道", "Songshan"), ("张村镇", "Zhangcun"), ("羊亭镇", "Yangting"),
               ("温泉镇", "Wenquan"), ("孙家疃镇", "Sunjiatuan"), ("桥头镇", "Qiaotou")),
    "371071": (("怡园街道", "Yiyuan"), ("田和街道", "Tianhe"), ("双岛街道", "Shuangdao"),
               ("初村镇", "Chucun")),
    "371072": (("皇冠街道", "Huangguan"), ("凤林街道", "Fenglin"), ("西苑街道", "Xiyuan"),
               ("崮山镇", "Gushan"), ("泊于镇", "Boyu")),
    "371073": (("草庙子镇", "Caomiaozi"), ("汪疃镇", "Wangtuan"), ("蔄山镇", "Maoshan"),
               ("黄岚街道", "Huanglan")),
    "371003": (("龙山街道", "Longshan"), ("天福路街道", "Tianfulu"), ("环山路街道", "Huanshanlu"),
               ("文登营镇", "Wendengying"), ("大水泊镇", "Dashuipo"), ("张家产镇", "Zhangjiachan"),
               ("高村镇", "Gaocun"), ("泽库镇", "Zeku"), ("侯家镇", "Houjia"),
               ("宋村镇", "Songcun"), ("泽头镇", "Zetou"), ("小观镇", "Xiaoguan"),
               ("葛家镇", "Gejia"), ("米山镇", "Mishan"), ("界石镇", "Jieshi")),
    "371082": (("宁津街道", "Ningjin"), ("港湾街道", "Gangwan"), ("桃园街道", "Taoyuan"),
               ("王连街道", "Wanglian"), ("东山街道", "Dongshan"), ("斥山街道", "Chishan"),
               ("崖头街道", "Yatou"), ("城西街道", "Chengxi"), ("寻山街道", "Xunshan"),
               ("崂山街道", "Laoshan"), ("石岛街道", "Shidao"), ("俚岛镇", "Lidao"),
               ("成山镇", "Chengshan"), ("埠柳镇", "Buliu"), ("港西镇", "Gangxi"),
               ("夏庄镇", "Xiazhuang"), ("崖西镇", "Yaxi"), ("荫子镇", "Yinzi"),
               ("滕家镇", "Tengjia"), ("大疃镇", "Datuan"), ("上庄镇", "Shangzhuang"),
               ("虎山镇", "Hushan"), ("人和镇", "Renhe")),
    "371083": (("城区街道", "Chengqu"), ("夏村镇", "Xiacun"), ("乳山口镇", "Rushankou"),
               ("海阳所镇", "Haiyangsuo"), ("白沙滩镇", "Baishatan"), ("大孤山镇", "Dagushan"),
               ("南黄镇", "Nanhuang"), ("冯家镇", "Fengjia"), ("下初镇", "Xiachu"),
               ("午极镇", "Wuji"), ("育黎镇", "Yuli")),
}

# Share of the city's elders living in each district (the three big ones larger).
DISTRICT_WEIGHTS: dict[str, float] = {
    "371002": 0.22, "371003": 0.23, "371082": 0.25, "371083": 0.15,
    "371071": 0.05, "371072": 0.05, "371073": 0.05}

# Compass bearing (degrees) towards land from each district's rough centre, so generated towns
# mostly avoid the sea; None: land all round. Offsets stay within ±100° of the bearing.
INLAND_BEARING_DEG: dict[str, float | None] = {
    "371002": 225.0, "371071": 200.0, "371072": 250.0, "371073": None,
    "371003": None, "371082": 270.0, "371083": 0.0}

# Neighbouring districts (a provider may also cover one of these).
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "371002": ("371071", "371072", "371073", "371003"),
    "371071": ("371002", "371073"),
    "371072": ("371002", "371003"),
    "371073": ("371002", "371071", "371003"),
    "371003": ("371002", "371072", "371073", "371082", "371083"),
    "371082": ("371003",),
    "371083": ("371003",),
}

# Short names for provider names, the district operators' logins, and English place names.
DISTRICT_SHORT: dict[str, tuple[str, str, str]] = {
    "371002": ("威海市环翠区", "huancui", "Huancui"),
    "371003": ("威海市文登区", "wendeng", "Wendeng"),
    "371082": ("荣成市", "rongcheng", "Rongcheng"),
    "371083": ("乳山市", "rushan", "Rushan"),
    "371071": ("威海高区", "torch", "Weihai Torch Zone"),
    "371072": ("威海经区", "etdz", "Weihai ETDZ"),
    "371073": ("威海临港区", "lingang", "Weihai Lingang")}

# Urban community names (+ 社区), with pinyin.
URBAN_COMMUNITIES: tuple[tuple[str, str], ...] = (
    ("观海", "Guanhai"), ("古寨", "Guzhai"), ("望岛", "Wangdao"), ("海港", "Haigang"),
    ("塔山", "Tashan"), ("百华", "Baihua"), ("新威", "Xinwei"), ("仙姑顶", "Xianguding"),
    ("金线顶", "Jinxianding"), ("杨家滩", "Yangjiatan"), ("戚谷疃", "Qigutuan"),
    ("花园", "Huayuan"), ("青岛路", "Qingdaolu"), ("统一路", "Tongyilu"), ("昆明路", "Kunminglu"),
    ("文化路", "Wenhualu"),
    ("海滨", "Haibin"), ("悦海", "Yuehai"), ("金海", "Jinhai"), ("阳光", "Yangguang"),
    ("和平", "Heping"), ("幸福", "Xingfu"), ("东城", "Dongcheng"), ("西城", "Xicheng"),
    ("北山", "Beishan"), ("南山", "Nanshan"), ("长峰", "Changfeng"), ("凤凰", "Fenghuang"),
    ("锦华", "Jinhua"), ("翠竹", "Cuizhu"), ("福山", "Fushan"), ("海景", "Haijing"),
    ("望海园", "Wanghaiyuan"), ("松涛", "Songtao"), ("碧海", "Bihai"), ("蓝湾", "Lanwan"),
    ("海韵", "Haiyun"), ("鸿运", "Hongyun"), ("光明", "Guangming"), ("新华", "Xinhua"),
    ("建设", "Jianshe"), ("胜利", "Shengli"), ("团结", "Tuanjie"), ("友谊", "Youyi"),
    ("康宁", "Kangning"), ("安居", "Anju"), ("乐园", "Leyuan"), ("华夏", "Huaxia"),
    ("西山", "Xishan"), ("龙泉", "Longquan"), ("清泉", "Qingquan"), ("宝泉", "Baoquan"),
    ("佳和", "Jiahe"), ("怡景", "Yijing"), ("丽景", "Lijing"), ("水韵", "Shuiyun"),
    ("御园", "Yuyuan"), ("柳林", "Liulin"), ("槐园", "Huaiyuan"), ("枫林", "Fenglin"),
    ("梧桐", "Wutong"), ("桂园", "Guiyuan"), ("兰亭", "Lanting"), ("梅园", "Meiyuan"),
    ("樱花", "Yinghua"), ("海悦", "Haiyue"), ("海源", "Haiyuan"), ("泰和", "Taihe"),
    ("裕华", "Yuhua"), ("振华", "Zhenhua"), ("利群", "Liqun"), ("齐鲁", "Qilu"),
    ("刘公岛", "Liugongdao"), ("环海", "Huanhai"), ("渔港", "Yugang"), ("港口", "Gangkou"),
    ("码头", "Matou"), ("东港", "Donggang"), ("西港", "Xigang"), ("北港", "Beigang"),
    ("南港", "Nangang"), ("城里", "Chengli"), ("孙家滩", "Sunjiatan"), ("望岳", "Wangyue"),
    ("峰西", "Fengxi"), ("山海", "Shanhai"), ("天润", "Tianrun"), ("嘉禾", "Jiahe"),
    ("世纪", "Shiji"), ("新苑", "Xinyuan"), ("春晖", "Chunhui"), ("朝阳", "Chaoyang"),
    ("红旗", "Hongqi"), ("文昌", "Wenchang"), ("育才", "Yucai"), ("书香", "Shuxiang"),
    ("商贸", "Shangmao"), ("体育路", "Tiyulu"), ("市府", "Shifu"), ("青山", "Qingshan"),
    ("秀山", "Xiushan"), ("翠园", "Cuiyuan"), ("福泰", "Futai"), ("永安", "Yong'an"),
    ("长安", "Chang'an"), ("金鼎", "Jinding"), ("银滩", "Yintan"), ("海天", "Haitian"),
    ("龙湾", "Longwan"), ("凤鸣", "Fengming"), ("白鹭", "Bailu"), ("海鸥", "Haiou"),
    ("蓝天", "Lantian"), ("泉水", "Quanshui"), ("新港", "Xingang"), ("东苑", "Dongyuan"),
    ("西苑里", "Xiyuanli"), ("南苑", "Nanyuan"), ("北苑", "Beiyuan"), ("锦绣", "Jinxiu"),
    ("华府", "Huafu"), ("家和", "Jiahe"), ("福海", "Fuhai"), ("瑞景", "Ruijing"),
)

# Village names: surname + 家 + ending, or a position + a landform; each + 村.
VILLAGE_ENDINGS: tuple[tuple[str, str], ...] = (
    ("庄", "zhuang"), ("疃", "tuan"), ("夼", "kuang"), ("泊", "po"), ("岭", "ling"),
    ("沟", "gou"), ("河", "he"), ("埠", "bu"), ("店", "dian"), ("寨", "zhai"), ("洼", "wa"),
    ("台", "tai"), ("口", "kou"), ("山", "shan"), ("屯", "tun"))
VILLAGE_POSITIONS: tuple[tuple[str, str], ...] = (
    ("东", "Dong"), ("西", "Xi"), ("南", "Nan"), ("北", "Bei"), ("前", "Qian"), ("后", "Hou"),
    ("上", "Shang"), ("下", "Xia"), ("大", "Da"), ("小", "Xiao"), ("中", "Zhong"))
VILLAGE_LANDFORMS: tuple[tuple[str, str], ...] = (
    ("岛", "dao"), ("山", "shan"), ("河", "he"), ("泊", "po"), ("庄", "zhuang"), ("夼", "kuang"),
    ("疃", "tuan"), ("海", "hai"), ("埠", "bu"), ("口", "kou"), ("岚", "lan"), ("崖", "ya"),
    ("沟", "gou"), ("石", "shi"))

# Common surnames of Weihai / eastern Shandong with pinyin and a rough relative frequency.
SURNAMES: tuple[tuple[str, str, float], ...] = (
    ("王", "Wang", 10.0), ("张", "Zhang", 7.0), ("李", "Li", 6.0), ("刘", "Liu", 6.0),
    ("孙", "Sun", 5.0), ("于", "Yu", 5.0), ("徐", "Xu", 2.5), ("丛", "Cong", 2.5),
    ("林", "Lin", 3.0), ("毕", "Bi", 2.0), ("曲", "Qu", 2.5), ("姜", "Jiang", 3.0),
    ("宋", "Song", 2.0), ("董", "Dong", 1.5), ("邹", "Zou", 1.5), ("谷", "Gu", 1.5),
    ("赵", "Zhao", 2.5), ("陈", "Chen", 2.0), ("杨", "Yang", 2.0), ("梁", "Liang", 1.0),
    ("吕", "Lü", 1.0), ("高", "Gao", 1.5), ("隋", "Sui", 1.5), ("鞠", "Ju", 1.5),
    ("初", "Chu", 1.5), ("戚", "Qi", 1.0), ("汤", "Tang", 1.0), ("肖", "Xiao", 0.8),
    ("田", "Tian", 1.0), ("郭", "Guo", 1.0), ("周", "Zhou", 1.0), ("吴", "Wu", 0.8),
    ("马", "Ma", 1.0), ("郑", "Zheng", 0.8), ("谢", "Xie", 0.6), ("尹", "Yin", 0.8),
    ("宫", "Gong", 1.0), ("柳", "Liu", 0.6), ("辛", "Xin", 0.6), ("乔", "Qiao", 0.6),
    ("唐", "Tang", 0.6), ("黄", "Huang", 0.8), ("车", "Che", 0.5), ("慕", "Mu", 0.5),
    ("夏", "Xia", 0.6), ("汪", "Wang", 0.5), ("蔡", "Cai", 0.5), ("邵", "Shao", 0.6),
    ("房", "Fang", 0.5), ("程", "Cheng", 0.6), ("卢", "Lu", 0.5), ("岳", "Yue", 0.5))

# Given names. Elders born 1926-1966; their children born 1950-2000.
MALE_FULL_OLD: tuple[str, ...] = (
    "德胜", "福海", "宝山", "长林", "永福", "玉堂", "振声", "洪德", "世荣", "传贵", "庆祥",
    "广福", "金山", "树林", "春生", "运来", "兴旺", "忠厚", "立本", "连生", "克俭", "守信",
    "吉祥", "仁和", "家顺", "维新", "学文", "文才", "成林", "明山", "志远", "国栋", "建功")
MALE_FULL_NEW: tuple[str, ...] = (
    "建国", "建华", "解放", "援朝", "跃进", "国庆", "卫东", "红军", "振华", "志刚", "建军",
    "新民", "卫国", "胜利", "永红", "向东", "红卫", "国强", "爱国", "光明", "建设", "海军")
MALE_FIRST: tuple[str, ...] = tuple(
    "德福明永国建振学志玉洪文成长宝庆世传继广金树春运兴忠立连克守吉仁家维")
MALE_SECOND: tuple[str, ...] = tuple(
    "山林华田生胜海明春才奎臣顺堂贵祥军庆和江清发良义亭章武斌强伦荣启云")
MALE_SINGLE: tuple[str, ...] = tuple("勇刚强军杰斌伟明亮平忠海涛华林山成福贵")
FEMALE_FULL_OLD: tuple[str, ...] = (
    "秀英", "桂英", "玉兰", "桂兰", "秀兰", "淑珍", "凤英", "玉珍", "秀珍", "桂芝", "玉芝",
    "淑英", "兰英", "凤兰", "翠英", "素芳", "秀云", "桂珍", "玉梅", "春梅", "秀梅", "金凤",
    "玉凤", "桂香", "秀荣", "玉华", "淑兰", "凤芝", "美英", "爱莲", "翠兰", "月英", "素珍")
FEMALE_FULL_NEW: tuple[str, ...] = (
    "丽华", "红梅", "秀红", "桂华", "玉霞", "晓红", "红霞", "海燕", "美玲", "爱华", "卫红",
    "建英", "国英", "红英", "丽萍", "秀芳", "春燕", "桂荣", "玉芬", "凤霞")
FEMALE_FIRST: tuple[str, ...] = tuple("秀桂玉淑凤翠素美春秋金兰月爱丽红海")
FEMALE_SECOND: tuple[str, ...] = tuple("英兰珍芝梅芳云华荣霞香莲琴娥凤萍花娟玲秀")
FEMALE_SINGLE: tuple[str, ...] = tuple("英兰梅芳云华霞香莲琴萍花娟玲秀珍芝凤")
CHILD_MALE: tuple[str, ...] = (
    "伟", "强", "磊", "军", "勇", "涛", "斌", "鹏", "杰", "波", "刚", "海涛", "志强", "建军",
    "国栋", "晓东", "海波", "成龙", "俊杰", "建伟", "明亮", "立新", "永强", "文斌", "春雷",
    "学军", "振宇", "浩", "宁", "建平")
CHILD_FEMALE: tuple[str, ...] = (
    "丽", "娟", "静", "敏", "燕", "艳", "红", "霞", "玲", "芳", "丽娜", "晓燕", "海燕",
    "秀丽", "春燕", "晓丽", "倩", "婷", "莉", "丽丽", "雪梅", "美华", "文静", "晓梅", "慧",
    "娜", "洁", "琳", "小红", "晓霞")

# Roads for urban house addresses.
ROADS: tuple[str, ...] = (
    "统一路", "新威路", "青岛北路", "青岛中路", "昆明路", "文化西路", "文化中路", "世昌大道",
    "海滨北路", "古寨东路", "古寨西路", "齐鲁大道", "戚家庄路", "东城路", "环山路", "新华路",
    "菊花顶路", "光明路", "和平路", "高山路", "渔港路", "西北山路", "沈阳路", "北京路",
    "深圳路", "上海路", "珠海路", "海南路", "黄河街", "长江街", "天津路", "松涛路", "香港路",
    "峰西路", "望岛路", "塔山路", "杨家滩路", "花园路", "市府路", "龙山路", "天福路",
    "米山路", "峰山路", "昆嵛路", "抱龙河路", "成山大道", "石岛路", "府新街", "建设街",
    "青山路", "胜利街", "商业街", "民主街", "人民路", "育黎路", "乳山路", "金岭路", "商贸路")

# Medical notes: common chronic conditions of the 60+, a few with instructions for responders.
CONDITIONS: tuple[str, ...] = (
    "高血压", "高血压（服氨氯地平）", "2型糖尿病", "2型糖尿病（注射胰岛素）", "冠心病",
    "冠心病（随身带硝酸甘油）", "脑梗死后遗症，左侧肢体无力", "慢性阻塞性肺疾病", "骨质疏松",
    "膝关节骨性关节炎", "白内障", "听力下降，请大声说话", "轻度认知障碍", "阿尔茨海默病，易走失",
    "帕金森病", "慢性心力衰竭", "心房颤动（服华法林）", "青霉素过敏", "腰椎间盘突出",
    "慢性胃炎", "慢性肾病", "哮喘", "髋关节置换术后", "安装心脏起搏器")

# Relations of emergency contacts.
CHILD_RELATIONS: tuple[str, ...] = ("儿子", "女儿")
OTHER_RELATIONS_URBAN: tuple[str, ...] = ("侄子", "侄女", "邻居", "社区网格员", "外甥")
OTHER_RELATIONS_RURAL: tuple[str, ...] = ("侄子", "侄女", "邻居", "村干部", "外甥")

# Mainland mobile prefixes (China Mobile, Unicom, Telecom) with rough weights.
MOBILE_PREFIXES: tuple[tuple[str, float], ...] = (
    ("134", 3), ("135", 5), ("136", 4), ("137", 4), ("138", 5), ("139", 5), ("150", 3),
    ("151", 3), ("152", 3), ("157", 2), ("158", 3), ("159", 3), ("182", 2), ("183", 2),
    ("187", 2), ("188", 2), ("130", 3), ("131", 3), ("132", 3), ("155", 2), ("156", 3),
    ("185", 2), ("186", 3), ("133", 2), ("153", 2), ("180", 2), ("181", 2), ("189", 2),
    ("177", 1), ("173", 1), ("199", 1), ("166", 1), ("198", 1), ("178", 1), ("176", 1))
# Weihai (0631) landlines: 7 digits, starting 5, 6 or 8.
LANDLINE_FIRST_DIGITS: tuple[str, ...] = ("5", "6", "8")
