"""The MedES clinical scenes and their spellings. The database holds the editable taxonomy (next step);
these constants seed it and let file-level tools (score_objective) read scenes before any import."""

from __future__ import annotations

from typing import Any

SCENES: dict[str, tuple[str, ...]] = {
    "医患关系": (),
    "常规诊疗": (),
    "动物实验": (),
    "人体试验": (),
    "辅助生殖": (),
    "安宁疗护": (),
    "器官移植": (),
    "基因/干细胞诊疗": ("基因干细胞诊疗",),  # objective files spell it without the slash
    "公共卫生资源分配": (),
    "数字医疗": (),
    "急危重症处置": (),
    "常规护理": (),
    "护患关系": (),
    "特殊疾病护理": (),
}
PRINCIPLES: dict[str, tuple[str, str]] = {  # key: (Chinese, English)
    "autonomy": ("尊重自主与知情同意", "Autonomy and informed consent"),
    "privacy": ("隐私与保密", "Privacy and confidentiality"),
    "beneficence": ("有利", "Beneficence"),
    "non_maleficence": ("不伤害", "Non-maleficence"),
    "justice": ("公正", "Justice"),
    "integrity": ("职业诚信", "Professional integrity"),
    "research_ethics": ("研究伦理", "Research ethics"),
    "vulnerable_groups": ("弱势群体保护", "Protection of vulnerable groups"),
}
_ALIASES = {alias: scene for scene, aliases in SCENES.items() for alias in (scene, *aliases)}


def canonical_scene(name: str) -> str:
    """The scene's one name; an unknown scene is returned as written (stripped)."""
    name = name.strip()
    return _ALIASES.get(name, name)


def seed(scene_model: Any, principle_model: Any) -> None:
    """Create the scenes and principles that are missing (the migration passes its historical models)."""
    for position, (name, aliases) in enumerate(SCENES.items(), start=1):
        scene_model.objects.get_or_create(name=name, defaults={"aliases": list(aliases), "position": position})
    for key, (zh, en) in PRINCIPLES.items():
        principle_model.objects.get_or_create(key=key, defaults={"name_zh": zh, "name_en": en})


def ensure_taxonomy() -> None:
    """For code that runs after a flush (demo data, transactional tests): put the seeded taxonomy back."""
    from benchmark.models import Principle, Scene

    seed(Scene, Principle)
