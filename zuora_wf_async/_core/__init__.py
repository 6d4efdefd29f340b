"""The protocol, without I/O: building requests, reading responses, deciding retries.

Nothing under ``_core`` imports asyncio or aiohttp, reads a clock or draws a random number
unless it was handed one, so all of it is tested synchronously from tables.
"""
