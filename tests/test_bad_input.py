"""Bad input that used to reach a 500 (issue 13, item 7): text the database refuses (a NUL, a broken ``\\u``
escape) in imports, parsed sources, label schemas and the labeling routes; the same idempotency key sent at once
for two items; a label sent on an expired reservation after the item settled; an item id of another campaign;
label-schema keys named like export columns.

SQLite stores a NUL and PostgreSQL refuses it, so these tests matter most on PostgreSQL: run them there too
(``DATABASE_URL=postgres://…``); the race test runs on PostgreSQL only (SQLite has no concurrent writers).
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from annotation import services
from annotation.assignments import next_assignment
from annotation.exports import write_export
from annotation.models import Assignment, Campaign, Draft, Item, ItemState, Label, Member, MemberRole
from annotation.schema import EXPORT_COLUMNS, MEDES_RUBRIC, SchemaError, schema_from_dict
from annotation.services import CampaignError, NoPlaceError, Submission, submit_label
from benchmark.importers.mapped_scenarios import Mapping, import_scenarios, read_table
from benchmark.importers.medes_questions import import_medes_questions
from benchmark.importers.responses import import_medes_responses, import_medethiceval
from benchmark.importers.uploads import ImportOptions, run_upload, store_upload
from benchmark.models import ImportFormat, Provision, RegisteredModel, Release, Response, Scenario
from benchmark.parsing import parse_lines
from benchmark.services import SourceMeta, add_source, parse_source
from benchmark.taxonomy import ensure_taxonomy
from medes_site.accounts import create_user
from medes_site.models import Job
from medes_site.roles import Role
from tests import campaign_data
from tests.factories import PASSWORD, Personas
from tests.labeling_fixtures import RISKY, SAFE, build_campaign

HTMX = {"HTTP_HX_REQUEST": "true"}
ClientAs = Callable[..., Client]
QUESTIONS = "scene,query,reference,type\n"
RESPONSES = "scene,query,reference,type,model,response,answer_model\n"


def _line(*cells: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


# --- item 7a: what the database cannot store never reaches it ------------------------------------------------

# (importer, file) with a NUL or a broken \u escape on line 3 (or JSONL line 2), a good row before it
BAD_FILES: dict[str, tuple[Callable[[bytes], Any], bytes, str]] = {
    "medes questions": (
        lambda data: import_medes_questions(data, origin_name="q.csv", dry_run=True),
        (
            QUESTIONS
            + _line("器官移植", "患者要求买卖器官？", "禁止买卖", "主观题")
            + _line("器官移植", "患者\x00要求隐瞒？", "知情同意", "主观题")
        ).encode(),
        "'query'",
    ),
    "medes responses": (
        lambda data: import_medes_responses(data, origin_name="r.csv", dry_run=True),
        (
            RESPONSES
            + _line("器官移植", "患者要求买卖器官？", "禁止买卖", "主观题", "m1", "应当拒绝", "")
            + _line("器官移植", "患者要求隐瞒？", "知情同意", "主观题", "m1", "模型输出\x00了空字符", "")
        ).encode(),
        "'response'",
    ),
    "medethiceval": (
        lambda data: import_medethiceval(data, origin_name="m.csv", dry_run=True, default_scene=None),
        (
            "question,category,scene,reference\n"
            + _line("器官能买卖吗？", "violation", "器官移植", "不能")
            + _line("可以隐瞒\x00病情吗？", "violation", "医患关系", "不能")
        ).encode(),
        "'question'",
    ),
    "generic jsonl": (
        lambda data: import_scenarios(
            read_table(data, "s.jsonl"),
            Mapping(columns={"stem": "q", "scene": "s"}),
            origin_name="s.jsonl",
            dry_run=True,
        ),
        b'{"q": "\\u5668\\u5b98\\u80fd\\u4e70\\u5356\\u5417", "s": "\\u5668\\u5b98\\u79fb\\u690d"}\n'
        b'{"q": "bad \\u0000 here", "s": "\\u5668\\u5b98\\u79fb\\u690d", "extra": {"deep": "x"}}\n',
        "'q'",
    ),
    "generic jsonl, broken escape": (
        lambda data: import_scenarios(
            read_table(data, "s.jsonl"),
            Mapping(columns={"stem": "q", "scene": "s"}),
            origin_name="s.jsonl",
            dry_run=True,
        ),
        b'{"q": "\\u5668\\u5b98\\u80fd\\u4e70\\u5356\\u5417", "s": "\\u5668\\u5b98\\u79fb\\u690d"}\n'
        b'{"q": "ok", "s": "\\u5668\\u5b98\\u79fb\\u690d", "note": {"\\ud800": 1}}\n',
        "'note'",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_nul_in_an_imported_file_is_a_per_row_error_of_the_dry_run_naming_row_and_column(kind: str, db: None) -> None:
    ensure_taxonomy()
    run, data, column = BAD_FILES[kind]
    report = run(data)
    assert report.rows == 2 and not report.written
    bad_line = 2 if kind.startswith("generic") else 3
    assert [line for line, _ in report.errors] == [bad_line], report.errors
    message = report.errors[0][1]
    assert column in message and "cannot be stored" in message and "\x00" not in message
    assert not Scenario.objects.exists() and not Response.objects.exists()


def test_the_real_import_of_a_file_with_a_nul_writes_nothing_and_fails_no_request(
    personas: Personas, client_as: ClientAs
) -> None:
    ensure_taxonomy()
    _run, data, _column = BAD_FILES["medes responses"]
    upload = store_upload(
        io.BytesIO(data), "resp\x00onses\x07.csv", ImportFormat.MEDES_RESPONSES, user=personas.curator
    )
    assert upload.original_name == "responses.csv"  # a name is shown and stored: control characters go
    for dry_run in (True, False):
        report = run_upload(upload, ImportOptions(), dry_run=dry_run, user=personas.curator)
        assert [line for line, _ in report.errors] == [3] and not report.written
    upload.refresh_from_db()
    assert upload.imported_at is None and not Response.objects.exists() and not Scenario.objects.exists()
    assert upload.file.storage.exists(upload.file.name)  # the file is kept: fix it and upload it again


def test_nul_characters_in_a_parsed_source_are_dropped_with_a_warning(personas: Personas) -> None:
    doc = parse_lines(["第一章 总则", "第一条 医师\x00应当\ud800尊重患者。", "第二条 禁止买卖。"], title="条\x00例")
    assert doc.title == "条例" and doc.articles[0].text == "医师应当\ufffd尊重患者。"
    assert "3 NUL or broken characters were removed" in doc.warnings[0]
    text = "第一条 医疗机构应当遵循知情同意原则。\n第二条 禁止以任何形式买卖配子。\n".encode()
    source, _ = add_source(io.BytesIO(text), "条例.txt", SourceMeta(title="带空字符的条例"), user=personas.curator)
    # a file that passed the upload checks but whose text holds a NUL (as a damaged PDF text layer may)
    with open(source.file.path, "wb") as damaged:
        damaged.write(text.replace("应当".encode(), "应当\x00".encode()))
    parse_source(source, user=personas.curator)  # stores the provisions (PostgreSQL refuses a NUL in them)
    first = Provision.objects.filter(source=source).order_by("position").first()
    assert first is not None and first.text == "医疗机构应当遵循知情同意原则。"
    source.refresh_from_db()
    assert any("NUL" in warning for warning in source.parse_warnings)


@pytest.fixture
def labeling(personas: Personas) -> Campaign:
    return campaign_data.build_campaign(personas)


def api_submit(client: Client, item: int, scores: Any, key: str, **extra: Any) -> Any:
    body = {"item": item, "scores": scores, "idempotency_key": key, **extra}
    return client.post(reverse("api-label-list"), json.dumps(body), content_type="application/json")


def test_the_labeling_routes_refuse_nul_and_broken_escapes_with_400_and_store_nothing(
    labeling: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    api = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    item = api.post(reverse("api-assignment-next", args=[labeling.pk])).json()["item"]
    for body in (
        {"rationale": "理由\x00"},
        {"rationale": "理由\ud800"},
        {"idempotency_key": "k\x00"},
        {"scores": {**SAFE, "\x00": 1}},
        {"scores": {**SAFE, "R1\ud800": 1}},
    ):
        response = api_submit(api, item, body.pop("scores", SAFE), body.pop("idempotency_key", "k1"), **body)
        assert response.status_code == 400, response.content
    pages = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    scores = {f"s-{k}": v for k, v in SAFE.items()}
    for url, data in (
        (reverse("annotation:draft", args=[item]), {"rationale": "草稿\x00"}),
        (reverse("annotation:submit", args=[item]), {**scores, "rationale": "理由\x00", "idempotency_key": "p1"}),
    ):
        for extra in ({}, HTMX):
            assert pages.post(url, data, **extra).status_code == 400
    assert not Label.objects.exists() and not Draft.objects.exists()
    # the provision search without JavaScript posts the form: its query reaches the database through a form
    search = pages.post(reverse("annotation:submit", args=[item]), {"action": "search", "q": "知情\x00同意"})
    assert search.status_code == 200 and "plain text" in search.text
    assert pages.get(reverse("annotation:provisions", args=[item]), {"q": "知\x00"}, **HTMX).status_code == 400


def test_a_label_schema_with_a_nul_is_refused_before_anything_is_written(
    personas: Personas, client_as: ClientAs
) -> None:
    campaign_data.build_campaign(personas, name="Base")
    schema = {**MEDES_RUBRIC.as_dict(), "name": "坏\u0000名"}
    with translation.override("en"), pytest.raises(SchemaError, match="NUL"):
        schema_from_dict(schema)
    data = {
        "name": "Bad",
        "release": Release.objects.get().pk,
        "models": [RegisteredModel.objects.get().pk],
        "overlap": 2,
        "consensus_rule": "majority",
        "gold_ratio": "0",
        "gold_threshold": "0.7",
        "gold_minimum": 5,
        "reservation_minutes": 30,
        "schema_source": "json",
        "schema_json": json.dumps(schema),
    }
    response = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").post(reverse("annotation:campaign_create"), data)
    assert response.status_code == 400 and "NUL" in response.text
    assert not Campaign.objects.filter(name="Bad").exists()


# --- item 7b: the same idempotency key at once for two items -------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL only")
def test_one_key_sent_at_once_for_two_items_stores_one_label_and_answers_400_not_500(
    transactional_db: None, personas: Personas, client_as: ClientAs, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = campaign_data.build_campaign(personas)
    user = personas.annotator
    first = next_assignment(campaign, user)
    assert first is not None
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    second_item = Item.objects.filter(campaign=campaign).exclude(pk=first.item_id).first()
    assert second_item is not None
    Assignment.objects.create(item=second_item, user=user, expires_at=timezone.now() + timedelta(hours=1))
    # both requests pass the "key already used?" check before either writes: the race, made certain
    both_checked = threading.Barrier(2, timeout=30)
    guideline = services.current_guideline

    def in_step(campaign: Campaign) -> Any:
        both_checked.wait()
        return guideline(campaign)

    monkeypatch.setattr(services, "current_guideline", in_step)
    clients = [client_as(user, HTTP_ACCEPT_LANGUAGE="en") for _ in range(2)]
    answers: dict[int, Any] = {}

    def send(n: int, item: int) -> None:
        try:
            answers[n] = api_submit(clients[n], item, SAFE, "same-key")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n, item)) for n, item in enumerate((first.item_id, second_item.pk))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [201, 400], [a.content for a in answers.values()]
    refused = next(a for a in answers.values() if a.status_code == 400)
    assert "another item" in refused.content.decode()
    assert Label.objects.filter(annotator=user).count() == 1
    stored = Label.objects.get(annotator=user)
    assert Item.objects.get(pk=stored.item_id).submitted == 1
    other = first.item_id if stored.item_id == second_item.pk else second_item.pk
    assert Item.objects.get(pk=other).submitted == 0
    assert Assignment.objects.get(item_id=other, user=user).status == "reserved"


def test_one_key_used_again_for_another_item_is_400(labeling: Campaign, personas: Personas) -> None:
    item = next_assignment(labeling, personas.annotator)
    assert item is not None
    submit_label(item.item, personas.annotator, Submission(SAFE, idempotency_key="once"))
    following = next_assignment(labeling, personas.annotator)
    assert following is not None and following.item_id != item.item_id
    with translation.override("en"), pytest.raises(CampaignError, match="another item"):
        submit_label(following.item, personas.annotator, Submission(SAFE, idempotency_key="once"))
    assert Label.objects.count() == 1


# --- item 7c: a label on an expired reservation after the item settled ---------------------------------------


@pytest.fixture
def pair(personas: Personas) -> Campaign:
    """k = 2, three annotators: two can settle an item while the third one's reservation has expired."""
    third = create_user("annotator3", roles=[Role.ANNOTATOR], password=PASSWORD)
    return build_campaign([personas.annotator, personas.annotator2, third], personas.reviewer, overlap=2)


def _expire(assignment: Assignment) -> None:
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(minutes=1))


def _settle_without(pair: Campaign, item: Item, late: User) -> None:
    """The two others reserve the item (the late one's place is free again) and label it."""
    for member in Member.objects.filter(campaign=pair, role=MemberRole.ANNOTATOR).exclude(user=late):
        Assignment.objects.create(item=item, user=member.user, expires_at=timezone.now() + timedelta(minutes=30))
        submit_label(item, member.user, Submission(SAFE, idempotency_key=f"on-time-{member.user_id}"))
    assert Item.objects.get(pk=item.pk).state == ItemState.AGREED


def test_a_label_on_an_expired_reservation_of_a_settled_item_is_refused_and_kept_as_a_draft(
    pair: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    late = personas.annotator
    held = next_assignment(pair, late)
    assert held is not None
    item = held.item
    _expire(held)
    _settle_without(pair, item, late)
    client = client_as(late, HTTP_ACCEPT_LANGUAGE="en")
    data = {**{f"s-{k}": v for k, v in RISKY.items()}, "rationale": "过期后写完的理由", "idempotency_key": "late"}
    refused = client.post(reverse("annotation:submit", args=[item.pk]), data)
    assert refused.status_code == 400
    assert "received all the labels it needs" in refused.text and "过期后写完的理由" in refused.text
    assert Label.objects.filter(item=item).count() == 2 and not Label.objects.filter(annotator=late).exists()
    item.refresh_from_db()
    assert (item.submitted, item.state) == (2, ItemState.AGREED)
    draft = Draft.objects.get(item=item, user=late)
    assert draft.data == {"scores": RISKY, "rationale": "过期后写完的理由", "provisions": []}
    again = client.post(reverse("annotation:submit", args=[item.pk]), data, **HTMX)  # the same, from htmx
    assert again.status_code == 400 and "<html" not in again.text and "过期后写完的理由" in again.text
    screen = client.get(reverse("annotation:item", args=[item.pk]))
    assert screen.status_code == 200 and "过期后写完的理由" in screen.text
    assert 'data-testid="missed"' in screen.text and 'data-testid="submit"' not in screen.text
    assert 'data-testid="skip"' not in screen.text and 'id="next-form"' in screen.text


def test_the_api_refuses_a_label_on_an_expired_reservation_of_a_settled_item(
    pair: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    late = personas.annotator
    api = client_as(late, HTTP_ACCEPT_LANGUAGE="en")
    reserved = api.post(reverse("api-assignment-next", args=[pair.pk])).json()
    _expire(Assignment.objects.get(pk=reserved["id"]))
    item = Item.objects.get(pk=reserved["item"])
    _settle_without(pair, item, late)
    response = api_submit(api, item.pk, SAFE, "late-api", rationale="接口里的理由")
    assert response.status_code == 400 and "received all the labels" in response.json()["detail"][0]
    assert not Label.objects.filter(annotator=late).exists()
    assert Draft.objects.get(item=item, user=late).data["rationale"] == "接口里的理由"


def test_an_expired_reservation_still_labels_an_item_with_a_free_place_but_not_one_others_hold(
    pair: Campaign, personas: Personas
) -> None:
    late = personas.annotator
    held = next_assignment(pair, late)
    assert held is not None
    _expire(held)
    # nobody took the place: the late label is welcome
    _label, created = submit_label(held.item, late, Submission(SAFE, idempotency_key="late-ok"))
    assert created and Item.objects.get(pk=held.item_id).submitted == 1
    # an expired reservation whose places went to two others who hold them now
    again = next_assignment(pair, late)
    assert again is not None
    _expire(again)
    for user in (personas.annotator2, User.objects.get(username="annotator3")):
        Assignment.objects.create(item=again.item, user=user, expires_at=timezone.now() + timedelta(minutes=30))
    with translation.override("en"), pytest.raises(NoPlaceError, match="places went to other annotators"):
        submit_label(again.item, late, Submission(RISKY, rationale="晚了", idempotency_key="late-full"))
    assert Draft.objects.get(item=again.item, user=late).data["rationale"] == "晚了"
    assert Item.objects.get(pk=again.item_id).submitted == 0


# --- item 7d: another campaign's item is 404 before anything else ---------------------------------------------


def test_an_item_of_another_campaign_is_404_whatever_the_body_says(
    labeling: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    other = campaign_data.build_campaign(personas, name="Other", reviewer=False, creator=personas.curator)
    Member.objects.filter(campaign=other, user=personas.annotator).delete()
    theirs = next_assignment(other, personas.annotator2)
    assert theirs is not None
    Campaign.objects.filter(pk=other.pk).update(status="closed")
    api = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    for scores in (SAFE, {"R1": 7}, {"nonsense": 1}, {}):
        for key in ("k", "x" * 64):
            response = api_submit(api, theirs.item_id, scores, key, rationale="")
            assert response.status_code == 404, response.content
            body = response.content.decode()
            assert "closed" not in body and "not open" not in body and "Choose one of" not in body
    # an item of a campaign the user annotates, but not handed to them: 404 too
    mine = next_assignment(labeling, personas.annotator)
    assert mine is not None
    untouched = Item.objects.filter(campaign=labeling).exclude(pk=mine.item_id).first()
    assert untouched is not None
    assert api_submit(api, untouched.pk, {"R1": 7}, "k2").status_code == 404
    assert api_submit(api, 2**63, SAFE, "k3").status_code == 400  # no row's id (and no database overflow)
    pages = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    for name, method in (
        ("annotation:submit", "post"),
        ("annotation:draft", "post"),
        ("annotation:skip", "post"),
        ("annotation:item", "get"),
        ("annotation:provisions", "get"),
    ):
        response = getattr(pages, method)(reverse(name, args=[theirs.item_id]), {"s-R1": "7"})
        assert response.status_code == 404, name
    assert pages.post(reverse("annotation:next", args=[other.pk])).status_code == 404
    assert api.post(reverse("api-assignment-next", args=[other.pk])).status_code == 404
    assert not Label.objects.exists()


def test_a_draft_campaign_is_hidden_from_its_annotators_in_the_api_as_on_the_pages(
    labeling: Campaign, personas: Personas, client_as: ClientAs
) -> None:
    api = client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en")
    reserved = api.post(reverse("api-assignment-next", args=[labeling.pk])).json()
    assert api_submit(api, reserved["item"], SAFE, "before").status_code == 201
    Campaign.objects.filter(pk=labeling.pk).update(status="draft")  # e.g. made again as a draft
    assert api.get(reverse("api-campaign-list")).json()["results"] == []
    assert api.get(reverse("api-campaign-detail", args=[labeling.pk])).status_code == 404
    assert api.post(reverse("api-assignment-next", args=[labeling.pk])).status_code == 404
    assert api.get(reverse("api-assignment-list")).json()["results"] == []
    assert api.get(reverse("api-label-list")).json()["results"] == []
    assert api_submit(api, reserved["item"], RISKY, "after", expected_version=1).status_code == 404
    pages = client_as(personas.annotator)
    assert pages.get(reverse("annotation:queue", args=[labeling.pk])).status_code == 404
    # the review side still reads it
    reviewer = client_as(personas.reviewer)
    assert reviewer.get(reverse("api-campaign-detail", args=[labeling.pk])).status_code == 200


# --- item 7e: dimension keys named like export columns ---------------------------------------------------------


@pytest.mark.parametrize("key", ["model", "annotator", "Rationale", "item", "scenario", "scores", "note"])
def test_a_new_schema_may_not_name_a_dimension_like_an_export_column(key: str) -> None:
    schema = {"name": "x", "dimensions": [{"key": key, "values": [0, 1]}, {"key": "ok", "values": [0, 1]}]}
    with translation.override("en"), pytest.raises(SchemaError, match="column of the label exports") as raised:
        schema_from_dict(schema)
    assert "annotator, annotators" in str(raised.value)  # the message lists the reserved names
    assert schema_from_dict(schema, stored=True).keys == [key, "ok"]  # a campaign that has one still opens


@pytest.mark.parametrize("key", ["=cmd", "a b", "", "x" * 33, "_x", "s-1\n"])
def test_a_new_schema_key_is_a_short_word(key: str) -> None:
    with pytest.raises(SchemaError):
        schema_from_dict({"name": "x", "dimensions": [{"key": key, "values": [0, 1]}]})


def test_every_export_column_is_reserved(labeling: Campaign, personas: Personas) -> None:
    campaign_data.dispute_one(labeling, personas)
    services.adjudicate(Item.objects.get(campaign=labeling, state="disputed"), personas.reviewer, RISKY)
    for what in ("labels", "accepted"):
        out = io.BytesIO()
        write_export(labeling, what, "jsonl", out)
        assert set(json.loads(out.getvalue().splitlines()[0])) <= EXPORT_COLUMNS
        # the flat formats: every column but the score_<key> ones is a reserved name a dimension cannot take
        for fmt in ("csv", "parquet"):
            out = io.BytesIO()
            write_export(labeling, what, fmt, out)
            if fmt == "csv":
                header = next(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
            else:
                header = pq.read_table(io.BytesIO(out.getvalue())).column_names
            others = {name for name in header if not name.startswith("score_")}
            assert others and others <= EXPORT_COLUMNS, (what, fmt, others - EXPORT_COLUMNS)


def test_an_older_campaign_with_such_keys_exports_them_apart_from_the_columns(
    personas: Personas,
) -> None:
    campaign = campaign_data.build_campaign(personas, cases=1)
    legacy = {
        "name": "legacy",
        "dimensions": [{"key": "model", "values": [0, 1]}, {"key": "rationale", "values": [-1, 0]}],
    }
    Campaign.objects.filter(pk=campaign.pk).update(label_schema=legacy)
    campaign.refresh_from_db()
    got = next_assignment(campaign, personas.annotator)
    assert got is not None
    submit_label(
        got.item,
        personas.annotator,
        Submission({"model": 1, "rationale": -1}, rationale="真正的理由", idempotency_key="legacy"),
    )
    out = io.BytesIO()
    write_export(campaign, "labels", "csv", out)
    row = next(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert row["model"] == "Pilot-model-0" and row["rationale"] == "真正的理由"
    assert row["score_model"] == "1" and row["score_rationale"] == "-1"
    out = io.BytesIO()
    write_export(campaign, "labels", "parquet", out)
    table = pq.read_table(io.BytesIO(out.getvalue())).to_pylist()[0]
    assert (table["model"], table["rationale"], table["score_model"], table["score_rationale"]) == (
        "Pilot-model-0",
        "真正的理由",
        1,
        -1,
    )
    out = io.BytesIO()
    write_export(campaign, "labels", "jsonl", out)
    line = json.loads(out.getvalue())
    assert line["scores"] == {"model": 1, "rationale": -1} and line["model"] == "Pilot-model-0"


@pytest.mark.parametrize("key", ["k" * 65, "bad key", "nul\x00key", "../x"])
def test_a_request_key_of_any_other_shape_is_400_not_500(key: str, personas: Personas, client_as: ClientAs) -> None:
    campaign = campaign_data.build_campaign(personas, name="Keys")
    response = client_as(personas.reviewer).post(
        reverse("annotation:campaign_agreement_compute", args=[campaign.pk]), {"request_key": key}
    )
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_an_edited_pair_answer_that_cannot_be_stored_is_refused_with_the_reason(
    personas: Personas, client_as: ClientAs
) -> None:
    from alignment.models import PreferencePair, TargetedPrompt

    policy = RegisteredModel.objects.create(name="nul-policy", kind="imported")
    scenario = campaign_data.build_campaign(personas, name="Pairs").items.first().scenario  # type: ignore[union-attr]
    prompt = TargetedPrompt.objects.create(policy=policy, scenario=scenario, text="提示")
    pair = PreferencePair.objects.create(prompt=prompt, chosen="好", chosen_source="reference", rejected="坏")
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(
        reverse("alignment:data_review_pair", args=[pair.pk]),
        {"decision": "accepted", "chosen": "改\x00过"},
        follow=True,
    )
    assert response.status_code == 200 and "Null characters are not allowed" in response.content.decode()
    pair.refresh_from_db()
    assert (pair.status, pair.chosen) == ("proposed", "好")
    bad = client.post(reverse("alignment:data_review_pair", args=[pair.pk]), {"decision": "maybe"}, follow=True)
    assert bad.status_code == 200 and PreferencePair.objects.get(pk=pair.pk).status == "proposed"
