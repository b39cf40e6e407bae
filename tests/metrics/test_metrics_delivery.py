"""The delivery service's metrics, scraped over HTTP: each try by channel and result, its duration, and the queue's
depth read from the database on the scrape; and the JSON log lines' fields."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from simhost.delivery.models import DELIVERED, HTTP
from simhost.delivery.service import DeliveryService
from simhost.logs import JsonFormatter
from simhost.metrics import Metrics, offset_listen, serve
from tests.cli.clilib import fails
from tests.delivery.deliverylib import receiver, running, site
from tests.metrics.metricslib import scrape, value
from tests.router.routerlib import cli


def test_tries_are_counted_by_channel_and_result_and_the_queue_depth_read_on_a_scrape(tmp_path: Path) -> None:
    metrics = Metrics()
    server = serve("127.0.0.1:0", metrics)
    try:
        with receiver() as rec, site(tmp_path) as s:
            s.forward("acme", rec.url("/down"))
            s.forward("beta", rec.url("/up"))
            rec.scripts["/down"] = ["503"]
            # the failed try is retried only after a minute: acme's delivery stays in the queue meanwhile
            service = DeliveryService(s.settings, s.sessions, retry_s=60, timeout_s=2, poll_s=0.2,
                                      allow_private=True, metrics=metrics)
            with running(service):
                down, up = s.route("acme"), s.route("beta")
                assert s.wait_state(service, [up], DELIVERED)
                with service.changed:
                    assert service.changed.wait_for(lambda: s.delivery(down).tries == 1, 15)
                samples = scrape(server.url)
            after = scrape(server.url)
    finally:
        server.stop()
    assert value(samples, "simhost_delivery_tries_total", channel=HTTP, result="delivered") == 1
    assert value(samples, "simhost_delivery_tries_total", channel=HTTP, result="retry") == 1
    assert value(samples, "simhost_delivery_try_seconds_count", channel=HTTP) == 2
    assert 0 < (value(samples, "simhost_delivery_try_seconds_sum", channel=HTTP) or 0) < 4
    assert value(samples, "simhost_delivery_queue_depth", channel=HTTP) == 1
    assert value(samples, "simhost_metrics_scrape_errors_total", collector="delivery") == 0
    # a stopped service reads nothing more from the database on a scrape
    assert ("simhost_delivery_queue_depth", frozenset({("channel", HTTP)})) not in after
    assert value(after, "simhost_delivery_tries_total", channel=HTTP, result="delivered") == 1


def test_a_json_line_carries_the_fields_given_and_the_exception() -> None:
    record = logging.LogRecord("simhost.worker.port01", logging.INFO, __file__, 1, "port %s: received %s", ("p", "x"),
                               None)
    record.__dict__.update(port="port01", message_id="abc", parts=2)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "port p: received x"
    assert (line["level"], line["logger"]) == ("INFO", "simhost.worker.port01")
    assert (line["port"], line["message_id"], line["parts"]) == ("port01", "abc", 2)
    assert line["time"].endswith("+00:00")
    assert "args" not in line
    assert "msg" not in line
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("simhost", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exception"]


def test_a_bad_metrics_address_is_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'simhost.db'}"
    cli(db, "db", "upgrade")
    line = fails("--db", db, "run", "--only", "router", "--metrics-listen", "localhost")
    assert "give HOST:PORT" in line


@pytest.mark.parametrize("listen", ["127.0.0.1:9100", "[::1]:9100"])
def test_offsets_keep_the_host(listen: str) -> None:
    assert offset_listen(listen, 2) == listen.replace("9100", "9102")
