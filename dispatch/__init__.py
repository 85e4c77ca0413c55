"""Routing core and queue workers: matching, scoring and the Redis Stream dispatch loop.

Empty until the dispatch issue lands; it never imports aiohttp.
"""
