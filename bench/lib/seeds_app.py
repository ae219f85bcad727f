#!/usr/bin/python3
"""The seeds' application server, for bench/run's seeds_http scenario: a
small asyncio HTTP server (aiohttp) that runs `SELECT 1` on MariaDB
(aiomysql, a pool of POOL connections) for every request, checks that the
answer is 1 and replies 200 "Hello, world!" (13 bytes), whatever the path.

    seeds_app.py PORT DB_PORT [POOL]

Listens on 127.0.0.1:PORT; MariaDB on 127.0.0.1:DB_PORT as root without
a password (the run starts it with --skip-grant-tables). No access log.
"""
import sys

from aiohttp import web
import aiomysql


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    port, db_port = int(argv[1]), int(argv[2])
    pool_size = int(argv[3]) if len(argv) > 3 else 8

    async def open_pool(app):
        app["pool"] = await aiomysql.create_pool(host="127.0.0.1", port=db_port, user="root",
                                                 password="", minsize=pool_size,
                                                 maxsize=pool_size, autocommit=True)

    async def close_pool(app):
        app["pool"].close()
        await app["pool"].wait_closed()

    async def hello(request):
        async with request.app["pool"].acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute("SELECT 1")
                row = await cur.fetchone()
        if row != (1,):
            return web.Response(status=500, text="SELECT 1 answered %r\n" % (row,))
        return web.Response(text="Hello, world!")

    app = web.Application()
    app.on_startup.append(open_pool)
    app.on_cleanup.append(close_pool)
    app.router.add_get("/{tail:.*}", hello)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
