"""The Python client against a real recd: a fresh database, a real daemon process, a real Unix socket.

RECDB_BIN names the folder with recd and recctl (default: the repository's release build folder).
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
if not os.environ.get("RECDB_CLIENT_INSTALLED"):
    sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..")))

import recdb  # noqa: E402

BIN = os.environ.get("RECDB_BIN", os.path.join(REPO, ".build", "release"))


class DaemonCase(unittest.TestCase):
    """Starts one recd on a new database for the whole class; stops it and removes the folder after."""

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="recdb-py-")
        cls.db = os.path.join(cls.folder, "db")
        subprocess.run([os.path.join(BIN, "recctl"), "init", "--db", cls.db], check=True, capture_output=True)
        cls.socket = os.path.join(cls.db, "recd.sock")
        cls.log = open(os.path.join(cls.folder, "recd.log"), "wb")
        cls.recd = subprocess.Popen([os.path.join(BIN, "recd"), "--db", cls.db], stdout=cls.log, stderr=cls.log)
        deadline = time.time() + 30
        while not os.path.exists(cls.socket):
            if cls.recd.poll() is not None or time.time() > deadline:
                raise RuntimeError("recd did not start: " + open(cls.log.name).read())
            time.sleep(0.05)
        with recdb.Client(cls.socket) as db:
            for item, title, category, price in [
                ("i1", "Red mug", "Kitchen", 3.5),
                ("i2", "Blue mug", "Kitchen", 4.0),
                ("i3", "Tea towel", "Kitchen/Linen", 2.0),
                ("i4", "Garden hose", "Garden", 19.0),
            ]:
                db.query("UPSERT ITEM $i SET title = $t, category = $c, price = $p", i=item, t=title, c=category, p=price)
            for user, item in [("u1", "i1"), ("u2", "i1"), ("u2", "i2"), ("u3", "i1"), ("u3", "i4")]:
                db.query("EVENT purchase USER $u ITEM $i", u=user, i=item)
            db.query("REFRESH MODEL popularity")

    @classmethod
    def tearDownClass(cls):
        cls.recd.terminate()
        cls.recd.wait(timeout=30)
        cls.log.close()
        shutil.rmtree(cls.folder, ignore_errors=True)


class ErrorTableTests(unittest.TestCase):
    def test_error_classes_mirror_the_wire_schema(self):
        with open(os.path.join(REPO, "Schemas", "wire-protocol.schema.json")) as file:
            schema = json.load(file)
        codes = schema["$defs"]["failure"]["properties"]["error"]["properties"]["code"]["enum"]
        self.assertEqual(sorted(codes), sorted(recdb.SERVER_ERRORS))
        for code, cls in recdb.SERVER_ERRORS.items():
            self.assertTrue(issubclass(cls, recdb.RecDBError))
            self.assertEqual(cls.code, code)

    def test_a_missing_socket_is_unavailable(self):
        with self.assertRaises(recdb.Unavailable) as caught:
            recdb.Client("/nonexistent/recd.sock")
        self.assertIn("/nonexistent/recd.sock", str(caught.exception))

    def test_an_oversize_request_is_refused_before_sending(self):
        line = recdb.protocol.encode_request(1, "SHOW STATS", None, 100)
        self.assertTrue(line.endswith(b"\n"))
        with self.assertRaises(recdb.TooLarge):
            recdb.protocol.encode_request(1, "SHOW ITEM $i", {"i": "x" * 200}, 100)


class SyncClientTests(DaemonCase):
    def test_recommend_returns_typed_items_in_rank_order(self):
        with recdb.Client(self.socket) as db:
            items = db.recommend("RECOMMEND 3 ITEMS FOR USER $u", u="u1")
        titles = {"i1": "Red mug", "i2": "Blue mug", "i3": "Tea towel", "i4": "Garden hose"}
        self.assertTrue(items)
        self.assertNotIn("i1", [item.id for item in items])  # u1 bought it; popularity leaves it out
        self.assertTrue(all(item.model == "popularity" and item.title == titles[item.id] for item in items))
        self.assertGreaterEqual(items[0].score, items[-1].score)

    def test_parameters_are_bound_never_spliced(self):
        hostile = "x' OR '1' = '1"
        with recdb.Client(self.socket) as db:
            with self.assertRaises(recdb.NotFound) as caught:
                db.query("SHOW ITEM $i", i=hostile)
        self.assertIn(hostile, str(caught.exception))

    def test_server_errors_are_typed_with_their_offset(self):
        with recdb.Client(self.socket) as db:
            with self.assertRaises(recdb.QuerySyntaxError) as caught:
                db.query("RECOMMEND x")
            self.assertEqual(caught.exception.code, "syntax")
            self.assertEqual(caught.exception.at, 10)
            # The connection stays usable after an error.
            self.assertGreaterEqual(db.query("SHOW STATS")["items"], 4)

    def test_a_pipeline_of_thousands_answers_every_request_in_order(self):
        with recdb.Client(self.socket) as db:
            before = db.query("SHOW STATS")["events"]
            with db.pipeline() as batch:
                for n in range(3000):
                    batch.query("EVENT view USER $u ITEM $i", u=f"p{n % 50}", i=f"i{n % 4 + 1}")
                results = batch.execute()
            sequences = [result["sequence"] for result in results]
            self.assertEqual(len(sequences), 3000)
            self.assertEqual(sequences, sorted(sequences))
            self.assertEqual(db.query("SHOW STATS")["events"], before + 3000)

    def test_a_pipeline_can_return_failures_in_place(self):
        with recdb.Client(self.socket) as db:
            results = db.pipeline().query("SHOW STATS").query("SHOW ITEM 'nope'").query("STATUS").execute(
                raise_on_error=False
            )
        self.assertIn("items", results[0])
        self.assertIsInstance(results[1], recdb.NotFound)
        self.assertIn("requests_served", results[2])

    def test_results_convert_to_pandas_when_present(self):
        try:
            import pandas  # noqa: F401
        except ImportError:
            self.skipTest("pandas is not installed")
        with recdb.Client(self.socket) as db:
            items = db.recommend("RECOMMEND 3 ITEMS FOR USER 'u1'")
        frame = items.to_dataframe()
        self.assertEqual(list(frame["rank"]), list(range(1, len(items) + 1)))
        self.assertEqual(list(frame["id"]), [item.id for item in items])
        self.assertEqual(list(frame["score"]), [item.score for item in items])


class AsyncClientTests(DaemonCase):
    def test_concurrent_tasks_share_one_pipelined_connection(self):
        async def run():
            async with await recdb.AsyncClient.connect(self.socket) as db:
                pages = await asyncio.gather(
                    *(db.recommend("RECOMMEND 2 ITEMS FOR USER $u", u=f"u{n % 3 + 1}") for n in range(200))
                )
                stats, status = await asyncio.gather(db.query("SHOW STATS"), db.status())
                with self.assertRaises(recdb.QuerySyntaxError):
                    await db.query("SHOW")
                return pages, stats, status

        pages, stats, status = asyncio.run(run())
        self.assertEqual(len(pages), 200)
        for n, page in enumerate(pages):
            self.assertEqual([item.id for item in page], [item.id for item in pages[n % 3]])
        self.assertGreaterEqual(stats["items"], 4)
        self.assertIn("uptime_s", status)

    def test_a_missing_socket_is_unavailable(self):
        async def run():
            await recdb.AsyncClient.connect(os.path.join(self.folder, "none.sock"))

        with self.assertRaises(recdb.Unavailable):
            asyncio.run(run())


if __name__ == "__main__":
    unittest.main()
