"""Cosigning latency: one new checkpoint sent to 5 witnesses (``sbt witness serve`` processes on loopback) until
the quorum (3) and until all 5 cosignatures are back and verified, beside raw limits measured in the same run: one
Ed25519 sign + verify, one HTTP round trip to a witness's trivial ``/ready``, and the same round trip to all 5 at
once (the floor of the fan-out).

The log side is SBT's own code (``app.ledger.witnessing.ask_witnesses``, ``parse_cosignature_lines``, keep-alive
httpx client) over a tree in memory, so the figure is the protocol and the witnesses (each verifies the log's
signature and a consistency proof, cosigns, and commits its state to SQLite with synchronous=FULL before it
answers), not a database of the log.

    .venv/bin/python -m bench.witness_bench [--checkpoints 200] [--witnesses 5] [--quorum 3]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import httpx

from app.ledger.cosignature import AddCheckpoint, Cosigner, parse_cosignature_lines
from app.ledger.merkle import MemoryTree, leaf_hash
from app.ledger.note import Checkpoint, NoteSigner
from app.ledger.witnessing import ask_witnesses, http_post
from bench.common import free_port, load_average, percentile, wait_until_ready

ORIGIN = "bench.sbt.example/ledger"


@contextlib.contextmanager
def witnesses(folder: Path, count: int, log_key: str) -> Iterator[list[tuple[str, Cosigner]]]:
    started: list[tuple[str, Cosigner, subprocess.Popen[bytes]]] = []
    try:
        for number in range(count):
            cosigner = Cosigner.generate(f"witness{number}.bench.example")
            key_file = folder / f"w{number}.key"
            key_file.write_text(cosigner.private_key_text() + "\n")
            port = free_port()
            command = [sys.executable, "-m", "app.witness", "serve", "--key-file", str(key_file)]
            command += ["--name", cosigner.name, "--log-key", log_key, "--state", str(folder / f"w{number}.db")]
            process = subprocess.Popen(
                [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            started.append((f"http://127.0.0.1:{port}", cosigner, process))
        for url, _cosigner, process in started:
            wait_until_ready(url, process, 120)
        yield [(url, cosigner) for url, cosigner, _process in started]
    finally:
        for _url, _cosigner, process in started:
            process.terminate()
            process.wait()


def ms(seconds: list[float], fraction: float) -> str:
    return f"{percentile(seconds, fraction) * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--witnesses", type=int, default=5)
    parser.add_argument("--quorum", type=int, default=3)
    arguments = parser.parse_args()
    log = NoteSigner.generate(ORIGIN)
    tree = MemoryTree()
    sizes = [0]
    with (
        tempfile.TemporaryDirectory() as scratch,
        witnesses(Path(scratch), arguments.witnesses, log.verifier().text()) as running,
    ):
        print(f"witness bench: {arguments.witnesses} witnesses, quorum {arguments.quorum}, load {load_average()}")
        client = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=arguments.witnesses))
        post = http_post(client)
        all_back: list[float] = []
        quorum: list[float] = []
        with ThreadPoolExecutor(max_workers=arguments.witnesses) as pool:
            for number in range(arguments.checkpoints):
                for entry in range(10):
                    tree.append(leaf_hash(b"entry %d %d" % (number, entry)))
                body = Checkpoint(ORIGIN, tree.size, tree.root()).body()
                note = log.sign(body)
                request = AddCheckpoint(
                    sizes[-1], tree.consistency_proof(sizes[-1], tree.size) if sizes[-1] else [], note
                )
                data = request.encode()
                started = time.perf_counter()
                futures: dict[Future[list[httpx.Response | str]], Cosigner] = {
                    pool.submit(ask_witnesses, post, [(url, data)]): cosigner for url, cosigner in running
                }
                cosigned = 0
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        (answer,) = future.result()
                        if isinstance(answer, str) or answer.status_code != 200:
                            raise RuntimeError(f"a witness did not cosign: {answer}")
                        if not parse_cosignature_lines(answer.text, body, futures[future].verifier()):
                            raise RuntimeError("a witness answered without a valid cosignature")
                        cosigned += 1
                        if cosigned == arguments.quorum:
                            quorum.append(time.perf_counter() - started)
                all_back.append(time.perf_counter() - started)
                sizes.append(tree.size)

        # The same fan-out as SBT's round (one call, all witnesses, each answer read), end to end.
        rounds: list[float] = []
        for number in range(arguments.checkpoints // 4):
            tree.append(leaf_hash(b"round %d" % number))
            note = log.sign(Checkpoint(ORIGIN, tree.size, tree.root()).body())
            data = AddCheckpoint(sizes[-1], tree.consistency_proof(sizes[-1], tree.size), note).encode()
            started = time.perf_counter()
            answers = ask_witnesses(post, [(url, data) for url, _cosigner in running])
            rounds.append(time.perf_counter() - started)
            if any(isinstance(a, str) or a.status_code != 200 for a in answers):
                raise RuntimeError(f"a witness did not cosign: {answers}")
            sizes.append(tree.size)

        round_trip: list[float] = []
        fan_out: list[float] = []
        for _ in range(arguments.checkpoints):
            started = time.perf_counter()
            client.get(f"{running[0][0]}/ready")
            round_trip.append(time.perf_counter() - started)
            started = time.perf_counter()
            list(pool_map_ready(client, [url for url, _c in running]))
            fan_out.append(time.perf_counter() - started)
        client.close()

    signing: list[float] = []
    cosigner = Cosigner.generate("raw.bench.example")
    public = cosigner.private_key.public_key()
    for number in range(2000):
        message = b"cosignature/v1\ntime %d\n" % number
        started = time.perf_counter()
        public.verify(cosigner.private_key.sign(message), message)
        signing.append(time.perf_counter() - started)

    print(f"  cosigned by the quorum ({arguments.quorum}):    p50 {ms(quorum, 0.5)}   p99 {ms(quorum, 0.99)}")
    print(f"  cosigned by all {arguments.witnesses}:               p50 {ms(all_back, 0.5)}   p99 {ms(all_back, 0.99)}")
    print(f"  SBT's round (ask_witnesses, all): p50 {ms(rounds, 0.5)}   p99 {ms(rounds, 0.99)}")
    print("  raw limits, same run:")
    print(f"    one HTTP round trip (GET /ready): p50 {ms(round_trip, 0.5)}   p99 {ms(round_trip, 0.99)}")
    print(f"    {arguments.witnesses} at once (GET /ready):     p50 {ms(fan_out, 0.5)}   p99 {ms(fan_out, 0.99)}")
    print(f"    one Ed25519 sign + verify:         p50 {ms(signing, 0.5)}   p99 {ms(signing, 0.99)}")
    print(f"  load average after: {load_average()}")


def pool_map_ready(client: httpx.Client, urls: list[str]) -> Iterator[int]:
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        yield from pool.map(lambda url: client.get(f"{url}/ready").status_code, urls)


if __name__ == "__main__":
    main()
