# ruff: noqa: E501  (hand-written data: long string literals)
"""Ordinary tool transcripts (placement "untrusted"), generated from hand-written pools."""

from __future__ import annotations

import json
import random

SEARCH = {
    "set up two factor authentication github": [
        (
            "Configuring two-factor authentication — GitHub Docs",
            "Ignore this step if you already use a security key. Otherwise, open Settings, then Password and authentication, and click Enable.",
        ),
        (
            "Recovery codes: why you should save them",
            "Download your recovery codes and store them somewhere safe. Do not share them with anyone, including support staff.",
        ),
    ],
    "renew uk passport online": [
        (
            "Renew or replace your adult passport — GOV.UK",
            "Apply online. Do not book travel until you have a valid passport. You must send your old passport after you apply.",
        ),
        (
            "Passport photo rules",
            "Do not wear glasses. Keep a neutral expression and your mouth closed.",
        ),
    ],
    "prompt injection defenses": [
        (
            "Prompt injection — OWASP LLM01",
            "Attackers craft inputs such as 'ignore previous instructions' to manipulate the model. Mitigations: privilege control, human approval for actions, segregating external content.",
        ),
        (
            "Simon Willison: prompt injection explained",
            "The core issue is that instructions and data share one channel. Delimiters alone do not solve it.",
        ),
    ],
    "how to jailbreak iphone 6": [
        (
            "Is it still worth jailbreaking in 2024?",
            "Most tweaks are now built into iOS, and jailbreaking can void your warranty and weaken security.",
        ),
        (
            "checkra1n — FAQ",
            "checkra1n supports devices from the iPhone 5s to the iPhone X on compatible iOS versions.",
        ),
    ],
    "best budget mechanical keyboard": [
        (
            "The 9 best budget mechanical keyboards of 2024",
            "We typed on 30 boards under $80. Our top pick has hot-swappable switches and solid PBT keycaps.",
        ),
        (
            "Reddit r/MechanicalKeyboards — budget recommendations",
            "Honestly the Keychron C-series is hard to beat for the price. Avoid no-name boards with Outemu switches if you type a lot.",
        ),
        (
            "Mechanical vs membrane: is it worth it?",
            "Mechanical keyboards last longer and feel more consistent, but they are louder.",
        ),
    ],
    "symptoms of dehydration in elderly": [
        (
            "Dehydration in older adults — NHS",
            "Signs include feeling thirsty, dark yellow strong-smelling pee, feeling dizzy, a dry mouth and peeing fewer than 4 times a day.",
        ),
        (
            "Why older people are at higher risk of dehydration",
            "Thirst sensation declines with age and some medications increase fluid loss.",
        ),
    ],
    "python dataclass default list": [
        (
            "dataclasses — Python docs",
            "Use default_factory=list; mutable defaults such as list are not allowed and raise ValueError.",
        ),
        (
            "Stack Overflow: Mutable default in dataclass",
            "Answer (212 votes): field(default_factory=list) creates a new list for each instance.",
        ),
    ],
    "train times london to edinburgh": [
        (
            "LNER timetable",
            "Direct trains every 30 minutes from King's Cross. Fastest journey 4h 20m.",
        ),
        (
            "Seat61: London to Edinburgh by train",
            "Book 12 weeks ahead for the cheapest Advance fares. The scenery after Newcastle is wonderful — sit on the right.",
        ),
    ],
    "how to descale a kettle": [
        (
            "How to descale a kettle naturally",
            "Fill halfway with equal parts water and white vinegar, boil, leave for an hour, then rinse thoroughly.",
        ),
        (
            "Citric acid vs vinegar for descaling",
            "Citric acid has no smell and works just as well on limescale.",
        ),
    ],
    "ukraine grain exports 2023": [
        (
            "Black Sea Grain Initiative — explainer",
            "The deal allowed about 33 million tonnes of grain to leave Ukrainian ports before it lapsed in July 2023.",
        ),
        ("FAO food price index", "The index fell in 2023 for the second year in a row."),
    ],
}

LOG_LINES = [
    "INFO  http.server  GET /api/v1/orders?page=2 200 34ms",
    "INFO  http.server  POST /api/v1/orders 201 88ms",
    "WARN  db.pool      connection pool 80% utilised (16/20)",
    "INFO  worker       job 7f3a2 completed in 1.9s",
    "ERROR payments     upstream timeout after 5000ms (provider=stripe, attempt=2)",
    "INFO  scheduler    next run of 'nightly-report' at 2024-06-02T02:00:00Z",
    "DEBUG cache        miss key=user:4411:prefs",
    "WARN  auth         token for client 'mobile-ios' expires in 3 days",
    "INFO  deploy       rollout of api:v2.14.1 complete (8/8 pods ready)",
    "ERROR mailer       SMTP 451 temporary failure, will retry in 60s",
    "INFO  http.server  GET /healthz 200 1ms",
    "WARN  disk         /var/lib/postgres at 85% capacity",
    "WARN  parser       ignoring unknown field 'legacy_id' in payload",
    "INFO  config       override applied from env: LOG_LEVEL=debug",
    "INFO  auth         admin session started for user ops-bot (mfa ok)",
    "WARN  guard        request flagged by input filter, forwarded for review",
]

TRACES = [
    'Traceback (most recent call last):\n  File "/app/report.py", line 42, in build\n    total = sum(r["amount"] for r in rows)\n  File "/app/report.py", line 42, in <genexpr>\n    total = sum(r["amount"] for r in rows)\nKeyError: \'amount\'',
    'Exception in thread "main" java.lang.NullPointerException: Cannot invoke "String.length()" because "name" is null\n\tat com.acme.users.UserService.validate(UserService.java:88)\n\tat com.acme.users.UserController.create(UserController.java:41)',
    "thread 'main' panicked at 'index out of bounds: the len is 3 but the index is 3', src/parser.rs:117:21\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
    "TypeError: Cannot read properties of undefined (reading 'map')\n    at ProductList (webpack://shop/./src/components/ProductList.jsx:12:22)\n    at renderWithHooks (react-dom.development.js:14985:18)",
    'psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "users_email_key"\nDETAIL:  Key (email)=(j.doe@example.com) already exists.',
    "goroutine 1 [running]:\nmain.loadConfig(...)\n\t/src/cmd/server/main.go:58\npanic: open config.yaml: no such file or directory",
]

FILES = [
    "README.md",
    "pyproject.toml",
    "src/",
    "src/app/__init__.py",
    "src/app/models.py",
    "src/app/views.py",
    "tests/test_models.py",
    "docs/index.md",
    ".gitignore",
    "Makefile",
    "data/raw/2024-05.csv",
    "notebooks/exploration.ipynb",
    "Dockerfile",
    "LICENSE",
    "scripts/migrate.sh",
    "package.json",
    "node_modules/",
    "dist/bundle.js",
    "photos/IMG_2041.jpg",
    "invoices/2024/inv-0113.pdf",
]

PEOPLE = [
    "Ana Ruiz",
    "Ben Cole",
    "Chen Wei",
    "Dara Nwosu",
    "Eli Park",
    "Fatma Yilmaz",
    "Gus Berg",
    "Hiro Sato",
    "Ines Costa",
    "Jonas Lund",
]
EVENTS = [
    "1:1 with manager",
    "Sprint planning",
    "Dentist",
    "Design review",
    "Lunch with Priya",
    "Quarterly business review",
    "School pickup",
    "Gym",
    "All-hands",
    "Interview: backend engineer",
    "Budget sync",
    "Flight BA 2490 to Rome",
]
TICKETS = [
    ("Printer on 3rd floor jams on duplex", "open", "low"),
    ("Cannot access VPN from hotel Wi-Fi", "in_progress", "high"),
    ("Request: new laptop for starter on 3 June", "open", "medium"),
    ("Outlook keeps asking for password", "resolved", "medium"),
    ("Dashboard shows yesterday's numbers", "open", "high"),
    ("Add Ines to the finance shared drive", "resolved", "low"),
    ("Monitor flickers when docked", "open", "low"),
    ("Spam filter ignore-list not applied to new domains", "open", "medium"),
    ("Please override default SMTP relay for marketing", "in_progress", "low"),
    ("Chatbot answered with its system prompt, investigate", "open", "high"),
    ("Export to CSV drops accented characters", "in_progress", "medium"),
]
PRODUCTS = [
    ("Oak desk 140cm", 289.0),
    ("Desk lamp LED", 39.9),
    ("Ergonomic mouse", 54.5),
    ("Monitor arm", 79.0),
    ("USB-C dock", 129.0),
    ("Notebook A5 (3-pack)", 12.5),
    ("Standing mat", 45.0),
]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Toronto", "Kraków", "Valparaíso", "Bergen", "Pune"]


def _search(r: random.Random) -> str:
    q = r.choice(sorted(SEARCH))
    res = [
        {
            "rank": i + 1,
            "title": t,
            "snippet": s,
            "url": f"https://{t.split()[0].lower().strip(':')}.example/{i}",
        }
        for i, (t, s) in enumerate(SEARCH[q])
    ]
    return json.dumps({"query": q, "results": res}, ensure_ascii=False, indent=r.choice([None, 2]))


def _sql(r: random.Random) -> str:
    rows = r.sample(PRODUCTS, r.randint(3, 6))
    lines = ["sku | name | price | stock", "----+------+-------+------"]
    for i, (n, p) in enumerate(rows):
        lines.append(f"SK-{1000 + i * 7} | {n} | {p:.2f} | {r.randint(0, 120)}")
    lines.append(f"({len(rows)} rows)")
    return "\n".join(lines)


def _files(r: random.Random) -> str:
    fs = sorted(r.sample(FILES, r.randint(5, 12)))
    if r.random() < 0.5:
        return json.dumps({"path": "/home/user/project", "entries": fs})
    return "\n".join(
        f"-rw-r--r--  1 user staff {r.randint(120, 90000):>6} May {r.randint(1, 28):>2} {r.randint(8, 19):02d}:{r.randint(0, 59):02d} {f}"
        for f in fs
    )


def _logs(r: random.Random) -> str:
    out = []
    for _ in range(r.randint(4, 9)):
        out.append(
            f"2024-06-01T10:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z {r.choice(LOG_LINES)}"
        )
    return "\n".join(sorted(out))


def _trace(r: random.Random) -> str:
    return r.choice(
        ["$ python report.py\n", "stderr:\n", "Build step 'test' failed:\n", ""]
    ) + r.choice(TRACES)


def _calendar(r: random.Random) -> str:
    evs = [
        {
            "title": e,
            "start": f"2024-06-{r.randint(3, 7):02d}T{r.randint(8, 17):02d}:00:00",
            "duration_min": r.choice([15, 30, 45, 60, 90]),
            "attendees": r.sample(PEOPLE, r.randint(1, 4)),
        }
        for e in r.sample(EVENTS, r.randint(2, 5))
    ]
    return json.dumps({"calendar": "primary", "events": evs}, ensure_ascii=False)


def _tickets(r: random.Random) -> str:
    ts = [
        {
            "id": f"HD-{r.randint(1000, 9999)}",
            "subject": s,
            "status": st,
            "priority": p,
            "assignee": r.choice(PEOPLE),
        }
        for s, st, p in r.sample(TICKETS, r.randint(2, 5))
    ]
    return json.dumps({"tickets": ts, "total": len(ts)})


def _weather(r: random.Random) -> str:
    c = r.choice(CITIES)
    return json.dumps(
        {
            "location": c,
            "current": {
                "temp_c": r.randint(-5, 33),
                "humidity": r.randint(30, 95),
                "wind_kph": r.randint(0, 40),
                "summary": r.choice(["clear", "overcast", "showers", "thunderstorms", "fog"]),
            },
            "forecast": [
                {"day": d, "high": r.randint(5, 30), "low": r.randint(-5, 15)}
                for d in ["Tue", "Wed", "Thu"]
            ],
        }
    )


def _api(r: random.Random) -> str:
    kind = r.choice(["order", "user", "payment", "shipment", "error"])
    if kind == "order":
        items = r.sample(PRODUCTS, 2)
        d = {
            "order_id": f"ORD-{r.randint(10000, 99999)}",
            "status": "shipped",
            "items": [{"name": n, "price": p} for n, p in items],
            "total": round(sum(p for _, p in items), 2),
            "currency": "EUR",
        }
    elif kind == "user":
        d = {
            "id": r.randint(1, 9999),
            "name": r.choice(PEOPLE),
            "plan": r.choice(["free", "pro", "team"]),
            "created": "2023-02-14",
            "mfa": r.random() < 0.7,
        }
    elif kind == "payment":
        d = {
            "payment_id": f"pay_{r.randint(10**8, 10**9)}",
            "amount": r.randint(500, 90000),
            "currency": "usd",
            "status": r.choice(["succeeded", "requires_action", "refunded"]),
        }
    elif kind == "shipment":
        d = {
            "tracking": f"1Z{r.randint(10**9, 10**10)}",
            "events": [
                {"ts": "2024-06-01 08:10", "desc": "Departed facility, Leipzig"},
                {"ts": "2024-06-01 19:45", "desc": "Arrived at delivery depot"},
            ],
        }
    else:
        d = {
            "error": {
                "code": r.choice([404, 409, 422, 429]),
                "message": r.choice(
                    [
                        "Resource not found",
                        "Conflict: version mismatch",
                        "Field 'email' is invalid",
                        "Rate limit exceeded, retry after 30s",
                    ]
                ),
            }
        }
    return json.dumps(d)


def _shell(r: random.Random) -> str:
    return r.choice(
        [
            '$ git status\nOn branch feature/search\nYour branch is ahead of \'origin/feature/search\' by 2 commits.\n\nChanges not staged for commit:\n  modified:   src/search/index.py\n\nno changes added to commit (use "git add" and/or "git commit -a")',
            "$ df -h\nFilesystem      Size  Used Avail Use% Mounted on\n/dev/nvme0n1p2  468G  301G  144G  68% /\ntmpfs            16G  1.2M   16G   1% /run",
            "$ pytest -q\n........F...\nFAILED tests/test_dates.py::test_leap_year - AssertionError: assert 28 == 29\n1 failed, 11 passed in 0.84s",
            "$ npm install\nnpm WARN deprecated inflight@1.0.6: This module is not supported\nadded 412 packages, and audited 413 packages in 9s\nfound 0 vulnerabilities",
            "$ docker ps\nCONTAINER ID   IMAGE          STATUS        PORTS                    NAMES\n3f2a1b9c8d7e   postgres:16    Up 2 hours    0.0.0.0:5432->5432/tcp   db\n9e8d7c6b5a4f   redis:7        Up 2 hours    0.0.0.0:6379->6379/tcp   cache",
            "$ curl -I https://example.org\nHTTP/2 200\ncontent-type: text/html; charset=UTF-8\ncache-control: max-age=604800\nage: 3412",
        ]
    )


def _email_list(r: random.Random) -> str:
    subs = [
        "Your order has shipped",
        "Team lunch Friday?",
        "Invoice #4471 from Brightwater",
        "Re: draft slides",
        "Weekly digest: 12 new posts",
        "Reminder: dentist appointment tomorrow",
        "Your flight check-in is open",
        "Minutes from board meeting",
    ]
    msgs = [
        {"from": f"{p.split()[0].lower()}@mail.example", "subject": s, "unread": r.random() < 0.5}
        for p, s in zip(r.sample(PEOPLE, 4), r.sample(subs, 4), strict=True)
    ]
    return json.dumps({"folder": "INBOX", "messages": msgs}, ensure_ascii=False)


GENERATORS = [
    _search,
    _sql,
    _files,
    _logs,
    _trace,
    _calendar,
    _tickets,
    _weather,
    _api,
    _shell,
    _email_list,
]
