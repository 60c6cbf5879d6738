"""Chinese text search at MedES scale (PostgreSQL): p50/p95 of the scenario list's search and of the provision
picker over a million scenarios and a million provisions.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/medes_h python bench/search.py [--rows 1000000] [--repeat 20]

Issue 17 asks for Chinese text search under 50 ms at the 95th percentile over 1M scenarios and 1M provisions,
with an index that works for Chinese (benchmark/search.py: a GIN index of each row's characters and pairs of
characters). The database named in DATABASE_URL is created if missing, migrated and filled once by COPY (a
second run sees the rows and only times; ``--rows`` smaller for a quick try): scenarios and provisions written
from a vocabulary of the MedES scenes and Chinese health law, so that a word such as 患者 is in about half of
them, 知情同意 in a tenth, 隐私 in one in twenty, each 第N条 in about one in two hundred, 罕见病用药 in one in
ten thousand. Each query is timed ``--repeat`` times, as the app runs it:
- list: the scenario list's first page for ``?q=`` (keyset page of 50 plus the capped count);
- picker: the provision picker's 20 best matches (words in title, label or text; article numbers).
``--baseline`` also times each query once without the index (icontains alone, as before), for comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.labeling_data import copy, ensure_database  # noqa: E402
from benchmark import picker  # noqa: E402
from benchmark.models import Provision, Scenario, Scene, Source  # noqa: E402
from benchmark.provisions import article_label  # noqa: E402
from benchmark.search import estimated_rows, scenarios_containing  # noqa: E402
from benchmark.views import SCENARIO_ORDER, SCENARIOS_COUNTED, SCENARIOS_PER_PAGE  # noqa: E402
from medes_site.keyset import keyset_page  # noqa: E402

SOURCES = 1000  # laws, regulations and standards: a million provisions is a thousand articles each

ROLES = ["我是一名住院医师", "我是一名护士", "作为主治医生", "我是医院伦理委员会委员", "我是一名药师", "作为科室主任"]
PLACES = ["在门诊", "在急诊科", "在肿瘤科病房", "在社区卫生服务中心", "在手术室", "在妇产科", "在精神科"]
EVENTS = [
    "患者家属要求对患者隐瞒病情",
    "一位老年患者拒绝接受手术治疗",
    "医疗机构计划开展一项新技术的临床研究",
    "同事在社交媒体上发布了患者的检查结果",
    "一名未成年患者要求单独就诊",
    "医院信息系统发生数据泄露",
    "家属要求放弃对昏迷患者的抢救",
    "药企代表向医生提供回扣",
    "医生在未告知风险的情况下实施了检查",
    "器官移植等待名单的排序受到质疑",
]
CONCERNS = ["知情同意", "隐私", "保密义务", "公平分配", "不伤害原则", "自主权", "利益冲突", "患者安全"]
ASKS = ["我应该怎么办？", "这样做是否合规？", "哪些做法符合伦理要求？", "医疗机构应当承担什么责任？"]
LAWS = ["医师法", "基本医疗卫生与健康促进法", "医疗纠纷预防和处理条例", "个人信息保护法", "人体器官移植条例"]
LAW_CLAUSES = [
    "医疗机构应当建立健全医疗质量管理制度",
    "医务人员在诊疗活动中应当向患者说明病情和医疗措施",
    "需要实施手术的，医务人员应当及时向患者具体说明医疗风险、替代医疗方案等情况，并取得其书面同意",
    "医疗卫生人员应当对患者的隐私和个人信息保密",
    "任何组织或者个人不得买卖人体器官",
    "卫生健康主管部门应当加强对医疗机构的监督管理",
    "违反本法规定的，由县级以上人民政府卫生健康主管部门责令改正，给予警告",
    "开展药物临床试验，应当经伦理委员会审查同意",
    "紧急情况下为抢救垂危患者生命而采取紧急医学措施造成不良后果的，不属于医疗事故",
    "公民享有平等获得基本医疗卫生服务的权利",
]
RARE = "罕见病用药"  # in one row of ten thousand


def article(rng: random.Random) -> str:
    return f"《{rng.choice(LAWS)}》{article_label(rng.randint(1, 200), 0)}"


def scenario_text(n: int, rng: random.Random) -> tuple[str, str]:
    parts = [rng.choice(ROLES), rng.choice(PLACES), "，", rng.choice(EVENTS)]
    if rng.random() < 0.3:
        parts.append("，患者本人希望了解自己的诊断结果")
    if rng.random() < 0.1:
        parts.append("，但尚未取得知情同意")
    if rng.random() < 0.05:
        parts.append("，涉及患者隐私")
    if n % 10_000 == 7:
        parts.append(f"，涉及{RARE}的分配")
    parts += ["。依据", article(rng), "，", rng.choice(ASKS)]
    return "".join(parts), f"{rng.choice(CONCERNS)}与{rng.choice(CONCERNS)}"


def provision_text(n: int, rng: random.Random) -> str:
    clauses = rng.sample(LAW_CLAUSES, 2)
    if n % 10_000 == 3:
        clauses.append(f"国家鼓励{RARE}的研发和生产")
    return "；".join(clauses) + "。"


def build(rows: int) -> dict[str, float]:
    rng = random.Random(17)
    now = timezone.now()
    scenes = list(Scene.objects.values_list("pk", flat=True))
    timings = {}
    with connection.cursor() as cursor:  # refilling an index row by row is slower than building it once
        for table in ("benchmark_scenario", "benchmark_provision"):
            cursor.execute(f"DROP INDEX IF EXISTS {table}_text_search")

    def scenarios() -> Iterator[tuple[object, ...]]:
        for n in range(rows):
            stem, norm = scenario_text(n, rng)
            scene = scenes[n % len(scenes)]
            yield ("subjective", stem, norm, scene, "imported", "bench-search", "accepted", f"search{n:058d}", now, now)

    start = time.perf_counter()
    columns = ["kind", "stem", "norm", "scene_id", "origin", "origin_detail", "status", "content_hash"]
    copy("benchmark_scenario", [*columns, "created_at", "updated_at"], scenarios())
    timings["COPY scenarios"] = time.perf_counter() - start

    start = time.perf_counter()
    Source.objects.bulk_create(
        Source(
            title=f"{LAWS[s % len(LAWS)]}（第{s}版）" if s % 10 else f"{LAWS[s % len(LAWS)]}实施细则（{s}）",
            kind="law",
            file=f"sources/bench-search-{s}.txt",
            original_name=f"bench-search-{s}.txt",
            sha256=f"search{s:058d}",
            size=1,
        )
        for s in range(SOURCES)
    )
    sources = list(Source.objects.order_by("pk").values_list("pk", flat=True))
    per_source = max(1, rows // SOURCES)

    def provisions() -> Iterator[tuple[object, ...]]:
        for n in range(min(rows, per_source * SOURCES)):
            number = n % per_source + 1
            text = provision_text(n, rng)
            yield (sources[n // per_source], number, number, 0, article_label(number, 0), text, 1, False, "[]")

    columns = ["source_id", "position", "number", "suffix", "label", "text", "version", "edited_by_hand"]
    copy("benchmark_provision", [*columns, "curated_keys"], provisions())
    timings["COPY sources and provisions"] = time.perf_counter() - start

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for table, fields in (("benchmark_scenario", "stem, norm"), ("benchmark_provision", "label, text")):
            cursor.execute(f"CREATE INDEX {table}_text_search ON {table} USING gin (medes_search_tokens({fields}))")
            cursor.execute(f"ANALYZE {table}")
    timings["build the two search indexes"] = time.perf_counter() - start
    return timings


QUERIES = {
    "1 char, common": ["药", "医"],
    "1 char, rare": ["罕", "贿"],
    "2 chars": ["隐私", "患者", "知情", "回扣"],
    "4+ chars": ["知情同意", "医疗机构", "书面同意", "保密义务"],
    "article 第N条": ["第十二条", "第三十五条", "第一百零八条"],
    "rare term": [RARE],
    "Latin": ["HIV", "informed consent"],
    "no match": ["量子纠缠"],
}


def list_search(query: str) -> int:
    """What the scenario list's view asks of the database for ``?q=query`` (page and count; no template)."""
    queryset = Scenario.objects.select_related("scene").filter(scenarios_containing(query, "postgresql"))
    page = keyset_page(
        queryset,
        SCENARIO_ORDER,
        SCENARIOS_PER_PAGE,
        count_limit=SCENARIOS_COUNTED,
        estimate=estimated_rows,
        count_first=False,
    )
    return len(page.object_list) + len([s.scene.name for s in page.object_list])


def list_baseline(query: str) -> int:
    """The same page before this change: icontains alone, and a count (capped, else it would be slower still)."""
    queryset = Scenario.objects.select_related("scene").filter(Q(stem__icontains=query) | Q(norm__icontains=query))
    page = keyset_page(queryset, SCENARIO_ORDER, SCENARIOS_PER_PAGE, count_limit=SCENARIOS_COUNTED)
    return len(page.object_list)


def picker_search(query: str) -> int:
    return len(picker.search(query))


def timed(run: object, query: str, repeat: int) -> list[float]:
    run(query)  # type: ignore[operator]  # the first, to warm the cache and the plan
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(query)  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(times: list[float], share: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="scenarios, and as many provisions")
    parser.add_argument("--repeat", type=int, default=20, help="timings of each query")
    parser.add_argument("--baseline", action="store_true", help="also time icontains alone, once per query")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This bench measures PostgreSQL's index: set DATABASE_URL=postgres://…/medes_<you>")
    ensure_database()
    call_command("migrate", verbosity=0)
    built = {}
    if not Scenario.objects.filter(origin_detail="bench-search").exists():
        built = build(args.rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('lc_ctype')")
        version, ctype = cursor.fetchone()
    print(f"{platform.node()} · {os.cpu_count()} cores · PostgreSQL {version} · LC_CTYPE {ctype}")
    print(f"{Scenario.objects.count():,} scenarios, {Provision.objects.count():,} provisions")
    for step, seconds in built.items():
        print(f"  built: {step} in {seconds:.0f} s")
    runs = {"list": list_search, "picker": picker_search}
    for name, run in runs.items():
        print(f"{name}: {args.repeat} timings of each query, ms")
        for kind, queries in QUERIES.items():
            times: list[float] = []
            each = []
            for query in queries:
                mine = timed(run, query, args.repeat)
                times += mine
                each.append(f"{query} {percentile(mine, 0.5):.0f}")
            print(
                f"  {kind:<16} p50 {percentile(times, 0.5):7.1f}  p95 {percentile(times, 0.95):7.1f}"
                f"  max {max(times):7.1f}   (p50 of each: {', '.join(each)})"
            )
    if args.baseline:
        print("list without the index (icontains alone), one timing per query, ms")
        for kind, queries in QUERIES.items():
            times = [timed(list_baseline, query, 1)[0] for query in queries]
            print(f"  {kind:<16} {' '.join(f'{t:7.1f}' for t in times)}")


if __name__ == "__main__":
    main()
