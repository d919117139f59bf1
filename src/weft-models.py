#!/usr/bin/env python3
"""weft-models' Python twin: the same workloads under asyncio, threading
and multiprocessing. weft-models runs it once per measurement:

    weft-models.py --workload W --model M --n N --m M --offload 0|1 --fd FD

and reads one report line from descriptor FD (the format of
src/models/spec.c): "items=.. checksum=.. wall=.. cpu=.. maxrss=..
worst=.." or "skip=reason". Models: asyncio, threads, procs (one process
per CPU, each an asyncio loop on its share) and pool (asyncio handing the
cpu jobs to a ProcessPoolExecutor).
"""
import argparse
import asyncio
import concurrent.futures
import multiprocessing
import os
import resource
import socket
import sys
import threading
import time

MSG = 64
TIMEOUT = 30.0


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_arg(m, i):
    return m - i % 3


class Result:
    def __init__(self):
        self.items = 0
        self.checksum = 0
        self.worst_ms = 0.0

    def merge(self, other):
        self.items += other[0]
        self.checksum += other[1]
        self.worst_ms = max(self.worst_ms, other[2])


def message(index, i):
    head = index.to_bytes(8, "little") + i.to_bytes(8, "little")
    return head + bytes([ord("a") + index % 26]) * (MSG - len(head))


# --- asyncio --------------------------------------------------------------

async def aio_io(n, m, first, res):
    async def echo(reader, writer):
        try:
            while True:
                data = await reader.readexactly(MSG)
                writer.write(data)
                await writer.drain()
        except asyncio.IncompleteReadError as e:
            if e.partial:
                raise
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]

    async def client(index):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        done, worst = 0, 0.0
        for i in range(m):
            out = message(index, i)
            t0 = time.perf_counter()
            writer.write(out)
            got = await asyncio.wait_for(reader.readexactly(MSG), TIMEOUT)
            ms = (time.perf_counter() - t0) * 1e3
            if got != out:
                raise RuntimeError("io: echo differs")
            done += 1
            worst = max(worst, ms)
        writer.close()
        await writer.wait_closed()
        return done, done * (index + 1), worst

    for r in await asyncio.gather(*(client(first + i) for i in range(n))):
        res.merge(r)
    server.close()
    await server.wait_closed()


async def aio_wait(n, m, first, res):
    async def one(index):
        t0 = time.perf_counter()
        await asyncio.sleep(m / 1e3)
        late = (time.perf_counter() - t0) * 1e3 - m
        if late < -1:
            raise RuntimeError("wait: woke early")
        return 1, index + 1, max(late, 0.0)

    for r in await asyncio.gather(*(one(first + i) for i in range(n))):
        res.merge(r)


def fib_job(n):
    return fib(n), os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def aio_cpu(n, m, first, res, pool):
    loop = asyncio.get_running_loop()

    async def one(index):
        if pool is None:
            return 1, fib(fib_arg(m, index)), -1.0
        v, pid, rss = await loop.run_in_executor(pool, fib_job,
                                                 fib_arg(m, index))
        res.pool_rss[pid] = max(res.pool_rss.get(pid, 0), rss)
        return 1, v, -1.0

    for r in await asyncio.gather(*(one(first + i) for i in range(n))):
        res.merge(r)


def blocking_call(ms):
    time.sleep(ms / 1e3)


async def aio_blocking(n, m, first, offload, res):
    stop = False
    beat = {"worst": 0.0, "beats": 0}

    async def heartbeat():
        while not stop:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            late = (time.perf_counter() - t0) * 1e3 - 1
            beat["worst"] = max(beat["worst"], late)
            beat["beats"] += 1

    async def one(index):
        if offload:
            await asyncio.to_thread(blocking_call, m)
        else:
            blocking_call(m)  # the pitfall: the loop is stuck here
        return 1, index + 1, 0.0

    hb = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.005)
    for r in await asyncio.gather(*(one(first + i) for i in range(n))):
        res.merge(r)
    stop = True
    await hb
    if beat["beats"] == 0:
        raise RuntimeError("blocking: the heartbeat never ran")
    res.worst_ms = beat["worst"]


def run_asyncio(w, n, m, first, offload, pool=None):
    res = Result()
    res.pool_rss = {}
    if w == "io":
        asyncio.run(aio_io(n, m, first, res))
    elif w == "wait":
        asyncio.run(aio_wait(n, m, first, res))
    elif w == "cpu":
        res.worst_ms = -1.0
        asyncio.run(aio_cpu(n, m, first, res, pool))
    else:
        asyncio.run(aio_blocking(n, m, first, offload, res))
    return res


# --- threading --------------------------------------------------------------

def read_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def run_threads(w, n, m, first, res):
    threading.stack_size(256 << 10)
    lock = threading.Lock()
    errors = []

    def record(r):
        with lock:
            res.merge(r)

    def guarded(fn):
        def run(*a):
            try:
                fn(*a)
            except BaseException as e:  # reported after the join
                errors.append(e)
        return run

    threads = []
    if w == "io":
        lsock = socket.create_server(("127.0.0.1", 0), backlog=4096)
        port = lsock.getsockname()[1]

        def echo(conn):
            with conn:
                while True:
                    data = read_exactly(conn, MSG)
                    if len(data) < MSG:
                        return
                    conn.sendall(data)

        def acceptor():
            for _ in range(n):
                conn, _ = lsock.accept()
                conn.settimeout(TIMEOUT)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                t = threading.Thread(target=guarded(echo), args=(conn,))
                t.start()
                threads.append(t)

        def client(index):
            s = socket.create_connection(("127.0.0.1", port), TIMEOUT)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            done, worst = 0, 0.0
            with s:
                for i in range(m):
                    out = message(index, i)
                    t0 = time.perf_counter()
                    s.sendall(out)
                    got = read_exactly(s, MSG)
                    ms = (time.perf_counter() - t0) * 1e3
                    if got != out:
                        raise RuntimeError("io: echo differs")
                    done += 1
                    worst = max(worst, ms)
            record((done, done * (index + 1), worst))

        lsock.settimeout(TIMEOUT)
        acc = threading.Thread(target=guarded(acceptor))
        acc.start()
        clients = [threading.Thread(target=guarded(client), args=(first + i,))
                   for i in range(n)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        acc.join()
        for t in threads:
            t.join()
        lsock.close()
    elif w == "wait":
        def one(index):
            t0 = time.perf_counter()
            time.sleep(m / 1e3)
            late = (time.perf_counter() - t0) * 1e3 - m
            record((1, index + 1, max(late, 0.0)))

        threads = [threading.Thread(target=guarded(one), args=(first + i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elif w == "cpu":
        res.worst_ms = -1.0
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as ex:
            for v in ex.map(lambda i: fib(fib_arg(m, i)),
                            range(first, first + n)):
                record((1, v, -1.0))
    else:
        stop = threading.Event()
        beat = {"worst": 0.0}

        def heartbeat():
            while not stop.is_set():
                t0 = time.perf_counter()
                time.sleep(0.001)
                beat["worst"] = max(beat["worst"],
                                    (time.perf_counter() - t0) * 1e3 - 1)

        def one(index):
            blocking_call(m)
            record((1, index + 1, 0.0))

        hb = threading.Thread(target=heartbeat)
        hb.start()
        time.sleep(0.005)
        threads = [threading.Thread(target=guarded(one), args=(first + i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        hb.join()
        res.worst_ms = beat["worst"]
    if errors:
        raise errors[0]


# --- multiprocessing ----------------------------------------------------------

def proc_share(args):
    w, n, m, first, offload = args
    r = run_asyncio(w, n, m, first, offload)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r.items, r.checksum, r.worst_ms, rss


def run_procs(w, n, m, first, offload, res):
    np = max(1, min(os.cpu_count() or 1, n))
    shares = [(w, n * (k + 1) // np - n * k // np, m, first + n * k // np,
               offload) for k in range(np)]
    res.worst_ms = -1.0 if w == "cpu" else 0.0
    with multiprocessing.Pool(np) as pool:
        out = pool.map(proc_share, shares)
        pool.close()
        pool.join()
    for items, checksum, worst, rss in out:
        res.merge((items, checksum, worst))
        res.children_rss += rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True,
                    choices=["io", "wait", "cpu", "blocking"])
    ap.add_argument("--model", required=True,
                    choices=["asyncio", "threads", "procs", "pool"])
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--m", type=int, required=True)
    ap.add_argument("--offload", type=int, default=0)
    ap.add_argument("--fd", type=int, default=1)
    a = ap.parse_args()

    out = os.fdopen(a.fd, "w")
    if a.model == "threads" and a.workload in ("io", "wait"):
        need = a.n * (2 if a.workload == "io" else 1) + 16
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY and soft < need:
            if hard == resource.RLIM_INFINITY or hard >= need:
                resource.setrlimit(resource.RLIMIT_NPROC, (hard, hard))
            else:
                out.write("skip=%d threads needed, RLIMIT_NPROC is %d\n"
                          % (need, soft))
                return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    res = Result()
    res.children_rss = 0
    res.pool_rss = {}
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if a.model == "asyncio":
        res = run_asyncio(a.workload, a.n, a.m, 0, a.offload)
        res.children_rss = 0
    elif a.model == "pool":
        with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
            res = run_asyncio(a.workload, a.n, a.m, 0, 0, pool)
        res.children_rss = sum(res.pool_rss.values())
    elif a.model == "threads":
        try:
            run_threads(a.workload, a.n, a.m, 0, res)
        except RuntimeError as e:
            if "can't start new thread" not in str(e):
                raise
            out.write("skip=a thread could not start (%s): RLIMIT_NPROC or "
                      "memory\n" % e)
            return 0
    else:
        run_procs(a.workload, a.n, a.m, 0, a.offload, res)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime +
           k1.ru_utime - k0.ru_utime + k1.ru_stime - k0.ru_stime)
    out.write("items=%d checksum=%d wall=%.9g cpu=%.9g maxrss=%d worst=%.9g\n"
              % (res.items, res.checksum, wall, cpu,
                 r1.ru_maxrss + res.children_rss, res.worst_ms))
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
