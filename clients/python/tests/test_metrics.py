"""recd's HTTP side (`recd --metrics`) from outside: the Prometheus endpoint read by prometheus_client's own text
parser, the console's query endpoint and its guards, and `--log-format json`.

RECDB_BIN names the folder with recd and recctl (default: the repository's release build folder).
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
if not os.environ.get("RECDB_CLIENT_INSTALLED"):
    sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..")))

import recdb  # noqa: E402

BIN = os.environ.get("RECDB_BIN", os.path.join(REPO, ".build", "release"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MetricsTests(unittest.TestCase):
    """One recd with `--metrics` and JSON logs on a new database; some traffic; then the scrape."""

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="recdb-metrics-")
        cls.db = os.path.join(cls.folder, "db")
        subprocess.run([os.path.join(BIN, "recctl"), "init", "--db", cls.db], check=True, capture_output=True)
        cls.socket = os.path.join(cls.db, "recd.sock")
        cls.port = free_port()
        cls.log_path = os.path.join(cls.folder, "recd.log")
        cls.log = open(cls.log_path, "wb")
        cls.recd = subprocess.Popen(
            [os.path.join(BIN, "recd"), "--db", cls.db, "--metrics", "127.0.0.1:%d" % cls.port, "--log-format", "json"],
            stdout=cls.log, stderr=cls.log)
        deadline = time.time() + 30
        while not os.path.exists(cls.socket) or not cls.answers():
            if cls.recd.poll() is not None or time.time() > deadline:
                raise RuntimeError("recd did not start: " + open(cls.log_path).read())
            time.sleep(0.05)
        with recdb.Client(cls.socket) as db:
            for item in ["i1", "i2", "i3", "i4"]:
                db.query("UPSERT ITEM $i SET title = $i, category = 'Kitchen'", i=item)
            with db.pipeline() as batch:
                for n in range(40):
                    batch.query("EVENT purchase USER $u ITEM $i", u="u%d" % (n % 7), i="i%d" % (n % 4 + 1))
                batch.execute()
            db.query("REFRESH MODEL popularity")
            for _ in range(25):
                db.query("RECOMMEND 3 ITEMS FOR USER 'u1' USING popularity")
            try:
                db.query("RECOMMEND BANANAS")
                raise AssertionError("a syntax error was accepted")
            except recdb.QuerySyntaxError:
                pass

    @classmethod
    def answers(cls):
        try:
            cls.get("/metrics")
            return True
        except OSError:
            return False

    @classmethod
    def tearDownClass(cls):
        cls.recd.terminate()
        cls.recd.wait(timeout=30)
        cls.log.close()
        shutil.rmtree(cls.folder, ignore_errors=True)

    @classmethod
    def get(cls, path, host=None):
        connection = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": host} if host else {})
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type"), response.read().decode()
        finally:
            connection.close()

    @classmethod
    def post(cls, query, content_type="application/json"):
        connection = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=10)
        try:
            body = json.dumps({"id": 1, "q": query})
            connection.request("POST", "/api/query", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def scrape(self):
        status, content_type, text = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(content_type.startswith("text/plain"), content_type)
        return {family.name: family for family in text_string_to_metric_families(text)}

    @staticmethod
    def sample(family, name, **labels):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
        return None

    def test_requests_are_counted_and_timed_per_statement(self):
        families = self.scrape()
        requests = families["recd_requests"]  # the parser drops the counter's _total
        self.assertEqual(requests.type, "counter")
        self.assertGreaterEqual(
            self.sample(requests, "recd_requests_total", statement="recommend", outcome="ok"), 25)
        self.assertGreaterEqual(self.sample(requests, "recd_requests_total", statement="event", outcome="ok"), 40)
        self.assertGreaterEqual(self.sample(requests, "recd_requests_total", statement="invalid", outcome="error"), 1)
        durations = families["recd_request_duration_seconds"]
        self.assertEqual(durations.type, "histogram")
        count = self.sample(durations, "recd_request_duration_seconds_count", statement="recommend")
        self.assertGreaterEqual(count, 25)
        self.assertEqual(self.sample(durations, "recd_request_duration_seconds_bucket", statement="recommend", le="+Inf"), count)

    def test_writer_storage_and_models_are_exported(self):
        families = self.scrape()
        batches = families["recd_group_commit_batch_size"]
        self.assertEqual(batches.type, "histogram")
        # 4 upserts and 40 pipelined events: at least one commit, never more statements than were sent.
        self.assertGreaterEqual(self.sample(batches, "recd_group_commit_batch_size_count"), 1)
        self.assertEqual(self.sample(batches, "recd_group_commit_batch_size_sum"), 44)
        for gauge in ["recd_write_queue_depth", "recd_heavy_queue_depth", "recd_impressions_pending"]:
            self.assertEqual(families[gauge].type, "gauge")
            self.assertGreaterEqual(families[gauge].samples[0].value, 0)
        self.assertGreater(families["recd_map_size_bytes"].samples[0].value, 0)
        self.assertGreater(families["recd_file_size_bytes"].samples[0].value, 0)
        self.assertEqual(families["recd_reader_slots"].samples[0].value, 512)
        self.assertGreaterEqual(families["recd_reader_slots_used"].samples[0].value, 1)
        self.assertGreaterEqual(self.sample(families["recd_model_generation"], "recd_model_generation", model="popularity"), 1)
        refreshes = families["recd_refresh_duration_seconds"]
        self.assertEqual(self.sample(refreshes, "recd_refresh_duration_seconds_count", model="popularity"), 1)

    def test_the_console_endpoint_reads_but_does_not_write_by_default(self):
        status, body = self.post("SHOW STATS")
        self.assertEqual(status, 200)
        answer = json.loads(body)
        self.assertTrue(answer["ok"], body)
        self.assertEqual(answer["result"]["items"], 4)
        status, body = self.post("EVENT view USER 'u1' ITEM 'i1'")
        answer = json.loads(body)
        self.assertFalse(answer["ok"])
        self.assertEqual(answer["error"]["code"], "permission_denied")
        self.assertIn("--http-role", answer["error"]["message"])

    def test_cross_site_requests_are_refused(self):
        status, _ = self.post("SHOW STATS", content_type="text/plain")
        self.assertEqual(status, 415)
        status, _, body = self.get("/", host="attacker.example:%d" % self.port)
        self.assertEqual(status, 421)
        self.assertIn("loopback", body)

    def test_logs_are_one_json_object_per_line(self):
        with open(self.log_path) as log:
            lines = [line for line in log.read().splitlines() if line.strip()]
        self.assertGreaterEqual(len(lines), 1)
        for line in lines:
            entry = json.loads(line)
            for key in ["time", "level", "label", "message"]:
                self.assertIn(key, entry, line)
        self.assertTrue(any("metrics and dashboard on" in json.loads(line)["message"] for line in lines))


if __name__ == "__main__":
    unittest.main()
