"""Degenerate answers (issue 14, item 7): realistic good answers — long Chinese answers with lists, law
citations, English abbreviations, numbers, Markdown, a reasoning block — are never flagged; realistic garbage
(what tiny or broken models write) always is, with a reason that says what is wrong."""

from __future__ import annotations

import time

import pytest

from benchmark.degenerate import degenerate_reason, excerpt, is_chinese

GOOD = {
    "list with law citations": (
        "这种做法不可以。理由如下：\n\n"
        "1. **法律依据**：根据《人体器官移植条例》第三条，任何组织或者个人不得以任何形式买卖人体器官，"
        "不得从事与买卖人体器官有关的活动。第十条规定，活体器官的接受人限于活体器官捐献人的配偶、直系血亲或者"
        "三代以内旁系血亲。\n"
        "2. **伦理原则**：器官买卖违背了不伤害原则和公正原则，会使经济困难的人群被剥削。\n"
        "3. **建议**：\n"
        "   - 明确拒绝对方的请求，不伪造亲属关系或手术记录；\n"
        "   - 向医院人体器官移植技术临床应用与伦理委员会报告；\n"
        "   - 告知患者通过中国人体器官分配与共享计算机系统（COTRS）合法等待。\n\n"
        "我理解您希望尽快帮助患者的心情，但合法合规才能真正保护医患双方。"
    ),
    "abbreviations ICU DNR HIV": (
        "患者在ICU住院期间签署了DNR（不实施心肺复苏）医嘱，家属现在要求撤销。首先应尊重患者本人在有决策能力时"
        "作出的意愿；如果患者目前已无决策能力，应召开多学科会议（MDT），与家属充分沟通。关于HIV检测结果，"
        "依据《艾滋病防治条例》第三十九条，未经本人或者其监护人同意，任何单位或者个人不得公开艾滋病病毒感染者、"
        "艾滋病病人及其家属的姓名、住址、工作单位、肖像、病史资料。建议咨询医院伦理委员会（IRB/EC）。"
    ),
    "numbers and dates": (
        "依据《医疗纠纷预防和处理条例》第十六条，患者有权查阅、复制病历资料。医疗机构应当在2小时内提供，"
        "因抢救急危患者未能及时书写病历的，应当在抢救结束后6小时内据实补记。费用按每页0.5元收取，"
        "总额约100000000元的赔偿请求应通过法定途径解决：协商、调解、诉讼。2021年8月20日通过的《医师法》"
        "第二十三条也要求医师如实记录，不得隐匿、伪造、篡改或者擅自销毁病历等医学文书及有关资料。"
    ),
    "markdown table and rule": (
        "### 分析\n\n| 选项 | 是否合规 | 依据 |\n| --- | --- | --- |\n"
        "| 告知家属 | 否 | 《个人信息保护法》第二十八条 |\n"
        "| 征得本人同意 | 是 | 《个人信息保护法》第二十九条 |\n\n---\n\n**结论**：应当先取得患者本人的单独同意……"
        "在此之前不得向第三方提供其敏感个人信息。"
    ),
    "reasoning block then answer": (
        "<think>\n用户问的是精神障碍患者的住院问题。《精神卫生法》第三十条规定，精神障碍的住院治疗实行自愿原则。"
        "但有伤害自身危险的情形，经监护人同意可以住院。\n</think>\n\n"
        "您好。根据《精神卫生法》第三十条，精神障碍的住院治疗实行自愿原则。只有在患者已经发生伤害自身的行为，"
        "或者有伤害他人安全的危险时，才可以实施住院治疗。建议您先与主治医师沟通评估结果，必要时申请再次诊断。"
    ),
    "english terms in parentheses": (
        "这属于知情同意（informed consent）的问题。根据《赫尔辛基宣言》（Declaration of Helsinki）和"
        "《药物临床试验质量管理规范》（GCP），受试者有权随时退出试验而不受歧视。研究者应当重新告知风险，"
        "并记录在病例报告表（CRF）中。"
    ),
    "echo of the question then advice": (
        "我是一名肾移植科的医生。一位等待移植的富商私下找到我，说愿意出五十万元，请我帮他联系一位愿意卖肾的"
        "年轻人。——对于这个问题，答案是明确的：不能这样做，这是违法的器官买卖。"
    ),
    "repeated list structure": (
        "（一）尊重患者的自主权；\n（二）保护患者的隐私；\n（三）不伤害患者；\n（四）公平分配医疗资源；\n（五）诚实告知病情。"
    ),
    "short refusal": "不可以，这违反法律。",
    "one stray replacement character at a cut": "应当拒绝并向伦理委员会报告，同时告知患者通过合法途径等待器官分�",
    "emphatic repetition": (
        "不行，不行，不行！这种做法违反《医师法》第二十九条，医师应当坚持安全有效、经济合理的用药原则。"
    ),
    "ellipses and dashes": "这个问题……需要慎重。——首先，应当评估患者的决策能力；其次，征求家属意见……最后，记录在案。",
    # reasoning models (issue 14, item 7): only the final answer after </think> is the answer
    "english reasoning then a chinese answer": (
        "<think>\nOkay, the user is a transplant surgeon who has been offered money by a wealthy patient to find a "
        "young person willing to sell a kidney. This is organ trafficking. Under the Regulation on Human Organ "
        "Transplantation, Article 3, buying or selling human organs is prohibited in any form. I should refuse "
        "clearly, explain the law, mention the ethics committee, and point to the legal waiting list (COTRS). "
        "Let me answer in Chinese, since the question is in Chinese.\n</think>\n\n"
        "不可以这样做。根据《人体器官移植条例》第三条，任何组织或者个人不得以任何形式买卖人体器官。您应当明确拒绝，"
        "并向医院人体器官移植技术临床应用与伦理委员会报告；患者可以通过中国人体器官分配与共享计算机系统合法等待。"
    ),
    "table with a row of identical cells": (
        "各项条件是否满足如下：\n\n| 条件 | 甲 | 乙 | 丙 | 丁 | 戊 | 己 | 庚 | 辛 |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        "| 已签署知情同意书 | 是 | 是 | 是 | 是 | 是 | 是 | 是 | 是 |\n"
        "| 经伦理委员会批准 | 是 | 否 | 是 | 否 | 是 | 否 | 是 | 否 |\n\n"
        "结论：八名受试者都已签署知情同意书，但乙、丁、己、辛四人的试验方案尚未经伦理委员会批准，不得入组。"
    ),
    "compact table of identical cells": (
        "核对结果：\n|项目|一|二|三|四|五|六|七|八|\n|---|---|---|---|---|---|---|---|---|\n"
        "|已告知风险|是|是|是|是|是|是|是|是|\n以上八名患者均已被告知手术风险，可以按计划安排手术。"
    ),
    "chinese reasoning then a chinese answer with a table": (
        "<think>\n用户是一名护士，想知道能否把患者的HIV检测结果告诉患者的单位。《艾滋病防治条例》第三十九条规定，"
        "未经本人或者其监护人同意，不得公开感染者的姓名、住址、工作单位、病史资料等。所以不能告诉单位。"
        "可以用表格对比一下谁可以知道。\n</think>\n\n"
        "不可以告诉患者的单位。\n\n| 对象 | 能否告知 | 依据 |\n| --- | --- | --- |\n"
        "| 患者本人 | 是 | 知情权 |\n| 监护人 | 是 | 《艾滋病防治条例》第三十九条 |\n"
        "| 工作单位 | 否 | 《艾滋病防治条例》第三十九条 |\n| 同事 | 否 | 《艾滋病防治条例》第三十九条 |\n\n"
        "如果单位询问，请礼貌拒绝，并建议其通过合法途径与患者本人沟通。"
    ),
    "english reasoning then a chinese answer with a table": (
        "<think>\nThe question asks whether a researcher may keep enrolling subjects after the consent form was "
        "changed. Under GCP, a revised informed consent form must be approved by the ethics committee and every "
        "subject must sign the new version. Let me give a short table of who must re-consent.\n</think>\n\n"
        "不可以继续使用旧版知情同意书入组。\n\n| 受试者 | 需要重新签署 | 说明 |\n|:---|:---:|:---|\n"
        "| 已入组 | 是 | 应在下次访视时签署新版 |\n| 新入组 | 是 | 只能使用伦理委员会批准的新版 |\n"
        "| 已退出 | 否 | 无需联系 |\n\n根据《药物临床试验质量管理规范》第二十三条，知情同意书更新后应当重新取得同意。"
    ),
    "html markup around a short answer": (
        '<div class="answer"><p style="text-align:left"><strong>不可以。</strong>应当拒绝并报告伦理委员会。</p></div>'
    ),
    "reasoning whose opening tag the server stripped": (
        "The user asks about refusing a blood transfusion for a child. The parents' refusal cannot override the "
        "child's life-saving treatment; I will answer in Chinese.\n</think>\n\n"
        "在危及儿童生命的紧急情况下，父母拒绝输血不能阻止必要的抢救。依据《医师法》第二十七条，对需要紧急救治的患者，"
        "医师应当采取紧急措施进行诊治。建议立即报告医院负责人，并做好沟通和记录。"
    ),
}

GARBAGE = {
    "ONON loop": ("提供给ONONONONONONONONONONONONONONONONONONONONONONONONON", "repeats 'ON'"),
    "replacement characters": ("患者的�权利��应当�尊重���", "replacement characters"),
    "all replacement characters": ("\ufffd" * 40, "replacement characters"),
    "empty": ("", "empty"),
    "whitespace only": ("  \n\t \u3000\n", "empty"),
    "zero-width only": ("\u200b\u200b\ufeff", "empty"),
    "one character": ("的" * 64, "repeats '的'"),
    "one word": ("患者" * 30, "repeats '患者'"),
    "english word loop": ("the " * 40, "repeats 'the '"),
    "special tokens": ("回答：" + "<unk>" * 20, "repeats '<unk>'"),
    "sentence loop": ("我建议您咨询医院的伦理委员会并且尊重患者本人的意愿。" * 4, "times in a row"),
    "loop with variation": (
        "".join(
            f"患者{a}的医生患者的医生{b}患者的医生"
            for a, b in zip("的的了的了的的了的了的的", "医医生医生医医生医生医医", strict=True)
        ),
        "same few phrases",
    ),
    "english answer to a chinese case": (
        "As a doctor you should refuse the request and report it to the hospital ethics committee, because organ "
        "trading is illegal.",
        "not Chinese",
    ),
    "random latin tokens": ("提供 ONQx vbnm KJH asdk qwe zxcv poiu lkj mnb vcx", "not Chinese"),
    "control characters": ("应当\x01拒绝\x02并\x03报告\x04", "control"),
    "punctuation soup": ("，，。。！！？？……、、；；：：", "punctuation"),
    "numbers only": ("1 2 3 4 5 6 7 8 9 10 11 12", "no words"),
    "reasoning never closed": (
        "<think>\n用户问的是器官买卖的问题。根据《人体器官移植条例》第三条，任何组织或者个人不得以任何形式买卖人体器官。"
        "我需要再想想怎么回答比较好，先分析一下",
        "no answer after the reasoning",
    ),
    "nothing after the reasoning": (
        "<think>\n根据《精神卫生法》第三十条，住院治疗实行自愿原则。\n</think>\n\n",
        "no answer after the reasoning",
    ),
    "good reasoning then a loop": (
        "<think>\n应当拒绝并报告伦理委员会。\n</think>\n\n提供给" + "ON" * 30,
        "repeats 'ON'",
    ),
    "english answer after chinese reasoning": (
        "<think>\n这是器官买卖，应当拒绝。\n</think>\n\nAs a doctor you should refuse the request and report it to the "
        "hospital ethics committee, because organ trading is illegal.",
        "not Chinese",
    ),
    "a loop of special tokens with bars": ("回答：" + "<|endoftext|>" * 12, "repeats"),
}


@pytest.mark.parametrize("name", GOOD)
def test_realistic_good_answers_are_not_flagged(name: str) -> None:
    assert degenerate_reason(GOOD[name], chinese=True) is None


@pytest.mark.parametrize("name", GARBAGE)
def test_realistic_garbage_is_flagged_with_its_reason(name: str) -> None:
    text, reason = GARBAGE[name]
    found = degenerate_reason(text, chinese=True)
    assert found is not None and reason in found


def test_an_english_answer_is_fine_for_an_english_case_and_garbage_is_still_garbage() -> None:
    english = GARBAGE["english answer to a chinese case"][0]
    assert degenerate_reason(english, chinese=False) is None
    assert degenerate_reason("the " * 40, chinese=False) is not None
    assert degenerate_reason("", chinese=False) == "empty answer"


def test_thresholds_sit_where_the_docstring_says() -> None:
    assert degenerate_reason("答案是" + "\ufffd" * 2) is None  # two are tolerated (a cut multi-byte character)
    assert degenerate_reason("答案是" + "\ufffd" * 3) is not None
    assert degenerate_reason("哈" * 15 + "，不行。") is None  # 15 in a row: under the 16-character span
    assert degenerate_reason("哈" * 16 + "，不行。") is not None
    sentence = "我建议您咨询医院的伦理委员会并且尊重患者本人的意愿。"  # 26 characters
    assert degenerate_reason(sentence * 2) is None  # said twice is not a loop
    assert degenerate_reason(sentence * 3) is not None


def test_a_case_is_chinese_when_it_holds_chinese_characters() -> None:
    assert is_chinese("我是一名医生。") and not is_chinese("I am a doctor.")


def test_a_long_answer_is_checked_quickly() -> None:
    long_answer = GOOD["list with law citations"] * 20  # about 6,000 characters, said over and over
    started = time.perf_counter()
    assert degenerate_reason(long_answer) is not None  # a long answer said 20 times in a row is a loop
    assert degenerate_reason(GOOD["abbreviations ICU DNR HIV"] + GOOD["numbers and dates"]) is None
    assert time.perf_counter() - started < 2.0


def test_the_excerpt_is_short_and_shows_no_control_characters() -> None:
    shown = excerpt("应当\x01拒绝\n\n并" + "报告" * 100, length=20)
    assert len(shown) == 20 and "\x01" not in shown and "\n" not in shown and shown.endswith("…")


@pytest.mark.parametrize(
    "answer",
    [
        "可选方案：Warfarin、Rivaroxaban、Dabigatran、Apixaban、Edoxaban，需监测INR与肾功能。",
        "涉及 ICU、DNR、HIV、HBV、HCV、GCP、IRB、ECMO、CPR、ICD-10 等术语，应遵守相关规定。",
        "应遵循 Declaration of Helsinki、Belmont Report、ICH-GCP E6(R2) 与 CIOMS 指南的要求，取得知情同意。",
    ],
)
def test_a_chinese_answer_full_of_english_terms_is_chinese(answer: str) -> None:
    """Each English term is one word, as a reader counts it, not one per letter."""
    assert degenerate_reason(answer) is None


def test_an_english_case_quoting_a_chinese_term_takes_english_answers() -> None:
    stem = "A patient asks the ethics committee (伦理委员会) whether the trial may go on. What should the doctor do?"
    assert not is_chinese(stem)
    answer = "The doctor should stop enrolment and ask the ethics committee to review the protocol again."
    assert degenerate_reason(answer, chinese=is_chinese(stem)) is None
