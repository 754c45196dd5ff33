"""The e-mail digest: building, rendering and sending each reader's digest to a real SMTP server, beside the
same server taking an already built message of the same size (what SMTP alone costs)."""

from __future__ import annotations

import random
import tempfile
import time

from media_demo.mail.smtp import SmtpConfig, SmtpSender
from media_demo.newsroom import Newsroom, get_corpus, get_index
from media_demo.signals.engine.consent import BEHAVIOURAL, CONTEXTUAL
from media_demo.tracking import Page, Reader, new_domain_userid, touch_session
from tests.benchmarks.common import bench_settings, latency_line
from tests.mailserver import smtp_server

SUBSCRIBERS = 100


def bench_digests() -> None:
    """`Digests.send_now` for subscribers with a reading history, and the bare SMTP baseline."""
    corpus = get_corpus()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as folder, smtp_server() as smtp:
        settings = bench_settings(folder).model_copy(update={"smtp_url": smtp.url()})
        room = Newsroom(settings, corpus, get_index())
        try:
            users = []
            for i in range(SUBSCRIBERS):
                account = room.accounts.create(f"reader{i}@example.org", "a-long-password", f"Reader {i}")
                reader = Reader(new_domain_userid(), touch_session(None, time.time()), user_id=account.user_id)
                home = Page(url="http://localhost:3000/", title="Home")
                room.tracker.consent(reader, home, {BEHAVIOURAL, CONTEXTUAL}, "http://localhost:3000/privacy")
                for article in rng.sample(corpus.articles, rng.randint(1, 12)):
                    page = Page(url=f"http://localhost:3000/article/{article.slug}", title=article.title)
                    room.tracker.page_view(reader, page)
                    room.tracker.article_view(reader, page, article)
                subscription = room.subscriptions.request(account.user_id, "daily")
                room.subscriptions.confirm(account.user_id, subscription.generation)
                users.append(account.user_id)
            samples = []
            for user_id in users:
                start = time.perf_counter()
                report = room.digests.send_now([user_id])
                samples.append((time.perf_counter() - start) * 1000)
                assert report.sent == [user_id], report
            messages = smtp.mailbox.wait_for(len(users))
            sizes = [len(bytes(m)) for m in messages]
            sender = SmtpSender(SmtpConfig.from_url(smtp.url()))
            baseline = []
            for message in messages[:SUBSCRIBERS]:
                start = time.perf_counter()
                sender.send(message)
                baseline.append((time.perf_counter() - start) * 1000)
        finally:
            room.close()
    print(f"\n## E-mail digests ({SUBSCRIBERS} subscribers with 1-12 stories read, a real SMTP server on loopback)")
    print(f"  mails {sum(sizes) / len(sizes) / 1024:.1f} KiB on average (HTML with inlined CSS, text, headers)")
    print(latency_line("digest: build, render, send, record", samples))
    print(latency_line("baseline: SMTP alone, same mails  ", baseline))
    ratio = sum(samples) / max(sum(baseline), 1e-9)
    print(f"  => {1000 * len(samples) / sum(samples):.0f} digests/s in one thread, {ratio:.1f}x the bare send")
