"""A complete, correct example report package (spec sections 2-4), for institutions to
start from and for tests to build on.

``pipeline example DIR`` calls :func:`write_example`: it writes the package folder
``<机构名称><YYYYMMDD>/`` with every form filled with plausible sample data, sample photos,
videos and (for online training) platform screenshots, a stamped-pledge scan image, a
Chinese ``README.txt`` beside the folder, and the ZIP of the folder. The ZIP passes
``pipeline check`` with no error and no warning.

:func:`sample_forms` is the data alone (every form of a package as Python dicts); the
test suite's ``PackageBuilder`` uses it so that every test package is valid by default.

The sample data satisfies every rule of spec section 4:

- all 身份证号 are built by :func:`pipeline.check.identity.make_id_number` (real GB/T 2260
  county codes of 西安市, birth dates in the past, MOD 11-2 check character; a trainer's
  17th digit agrees with the gender); no number appears twice in a package;
- phones are mainland mobiles, the pledge's a landline with area code;
- the plan runs from 43 to 10 days before the report date; the pledge is signed 7 days
  before it; every session, sign-in and online date lies within the plan's range;
- the plan's ``total_hours`` is 80 for every training: theory 40 + practice 40 (sessions
  of 4 to 6 hours, halves included), so the two outlines of a training add up to it;
- each training has its own two trainers (theory, practice) holding a certificate of
  the occupation at a higher level; outline teachers are those trainers;
- every offline session date has a sign-in session listing all the plan's trainees of
  the training, all signed; the online record lists the same trainees, 100 % complete.

Everything is deterministic: the same arguments give the same forms and the same bytes;
``tag`` changes only the plan's remarks.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from pipeline.check.contract import (FILE_NAME_OF_FORM, LEVELS, OFFLINE, ONLINE, PHOTO_EXTS, PLAN_FORM, PLEDGE_FORM,
                                     PLEDGE_SCANS, ROOT_FORM_TYPES, SCREENSHOT_EXTS, SCREENSHOT_STEM, SECTIONS,
                                     SHEET_OF_FORM, TRAINERS_FORM, VIDEO_EXTS, WORKBOOK_FILE, media_name,
                                     required_training_forms)
from pipeline.check.sheets import INSTRUCTIONS_SHEET, sheet_model
from pipeline.check.policy import MediaRules, load_policy

__all__ = [
    "DEFAULT_INSTITUTION", "DEFAULT_TRAININGS", "DEFAULT_PLATFORM", "PLAN_TOTAL_HOURS",
    "sample_forms", "form_bytes", "sample_photo", "sample_video", "sample_screenshot",
    "sample_pledge_scan", "package_files", "zip_package", "write_example", "readme_text",
]

DEFAULT_INSTITUTION = "新城区星火职业培训学校"
DEFAULT_TRAININGS: tuple[tuple[str, str, int], ...] = (("育婴师", "初级", 20),)
DEFAULT_PLATFORM = "技能学习云课堂"

#: the plan's total_hours, the same for every training (theory + practice)
PLAN_TOTAL_HOURS = 80
#: hours of the offline sessions: each list adds up to PLAN_TOTAL_HOURS / 2
THEORY_HOURS = (4, 4.5, 5.5, 5, 5, 6, 5, 5)
PRACTICE_HOURS = (5, 5, 4.5, 5.5, 6, 4, 5, 5)
#: online hours of a section that is online only (its half of the plan) or online as
#: well as offline (extra self-study on the platform beside the offline outline)
ONLINE_ONLY_HOURS = PLAN_TOTAL_HOURS // 2
ONLINE_EXTRA_HOURS = 8

#: days before the report date: the plan ends 10 days before and lasts 34 days
PLAN_END_BEFORE_REPORT = 10
PLAN_DAYS = 34
PLEDGE_SIGNED_BEFORE_REPORT = 7

THEORY_ROOM = "本校教学楼201教室"
PRACTICE_ROOM = "本校实训楼一层实训室"

#: the extensions the sample media are written with, the contract's for their formats:
#: JPEG photos (".jpg", the first spelling), MP4 videos, PNG screenshots (index() fails
#: at import should the contract stop allowing them), and the pledge scan as a JPEG
_PHOTO_EXT = PHOTO_EXTS[0]
_VIDEO_EXT = VIDEO_EXTS[0]
_SCREENSHOT_EXT = SCREENSHOT_EXTS[SCREENSHOT_EXTS.index(".png")]
_PLEDGE_SCAN = next(name for name in PLEDGE_SCANS if name.endswith(_PHOTO_EXT))
#: media are stored in the ZIP as they are (compressing them again gains nothing)
_MEDIA_SUFFIXES = tuple(dict.fromkeys(PHOTO_EXTS + SCREENSHOT_EXTS + VIDEO_EXTS))
_LEVEL_UP = {"初级": "高级", "中级": "技师", "高级": "技师", "技师": "高级技师", "高级技师": "高级技师"}


# ---------------------------------------------------------------------------------------
# sample content per occupation


@dataclass(frozen=True)
class _Occupation:
    textbook: tuple[str, str]  # (title, publisher)
    major: str  # the trainers' teaching major
    theory: tuple[str, ...]  # 8 theory session contents
    practice: tuple[str, ...]  # 8 practice session contents
    equipment: tuple[tuple[str, int], ...]
    consumables: tuple[tuple[str, int], ...]
    employers: tuple[str, str]  # where the trainers worked before


_PUBLISHER = "中国劳动社会保障出版社"

_OCCUPATIONS: dict[str, _Occupation] = {
    "育婴师": _Occupation(
        ("育婴员（基础知识）", _PUBLISHER), "学前教育",
        ("职业道德与育婴员职业守则", "婴幼儿生理与心理发展特点", "婴幼儿营养与喂养知识",
         "婴幼儿日常生活照料", "婴幼儿常见病的预防与护理", "婴幼儿意外伤害的预防与处理",
         "婴幼儿早期教育基础", "相关法律法规与安全知识"),
        ("婴儿奶瓶喂养与辅食制作", "婴儿抱姿、拍嗝与睡眠照料", "婴儿洗澡、抚触与被动操",
         "婴幼儿二便照料与尿布更换", "婴幼儿体温测量与物理降温", "婴幼儿异物卡喉急救（海姆立克法）",
         "婴幼儿动作与语言游戏活动", "综合实操练习与考核"),
        (("婴儿护理模型", 10), ("婴儿浴盆", 5), ("婴儿床", 4), ("电子体温计", 10), ("辅食料理机", 2)),
        (("一次性纸尿裤（包）", 10), ("婴儿洗护用品（套）", 10), ("医用棉签（包）", 20)),
        ("西安市第四医院儿科", "阳光宝贝早教中心")),
    "保育师": _Occupation(
        ("保育师（基础知识）", _PUBLISHER), "学前教育",
        ("职业道德与保育师职业守则", "幼儿生理发育与卫生保健", "幼儿膳食营养与进餐指导",
         "幼儿园一日生活保育", "幼儿常见疾病与传染病预防", "幼儿园环境卫生与消毒",
         "幼儿安全防护与应急处置", "相关法律法规知识"),
        ("幼儿进餐、饮水照料", "幼儿午睡照料与巡视", "幼儿盥洗与如厕指导", "活动室清洁与消毒操作",
         "幼儿晨午检与健康观察", "幼儿意外伤害现场处理", "配合教师组织游戏活动", "综合实操练习与考核"),
        (("幼儿桌椅（套）", 10), ("幼儿床", 6), ("消毒柜", 1), ("急救模型", 4)),
        (("消毒液（瓶）", 10), ("一次性手套（盒）", 10), ("擦手毛巾（条）", 30)),
        ("新城区第一幼儿园", "西安市儿童保健所")),
    "养老护理员": _Occupation(
        ("养老护理员（基础知识）", _PUBLISHER), "护理",
        ("职业道德与养老护理员职业守则", "老年人生理与心理特点", "老年人营养与饮食照料",
         "老年人常见病与慢性病照护", "老年人安全防护与风险防范", "老年人康复护理基础",
         "安宁疗护与心理慰藉", "相关法律法规与权益保障"),
        ("老年人进食、进水照料", "老年人清洁与口腔护理", "卧床老人翻身与压疮预防",
         "老年人转移与轮椅使用", "生命体征测量", "老年人跌倒与噎食应急处理",
         "老年人康乐活动组织", "综合实操练习与考核"),
        (("多功能护理床", 4), ("护理模拟人", 4), ("轮椅", 4), ("电子血压计", 6)),
        (("护理垫（包）", 20), ("一次性手套（盒）", 10), ("医用棉签（包）", 20)),
        ("新城区社会福利院", "西安市第九医院老年科")),
    "电工": _Occupation(
        ("电工（初级）", _PUBLISHER), "电气自动化技术",
        ("职业道德与电工职业守则", "电工基础知识", "电子技术基础", "电工识图",
         "常用电工仪表与工具", "低压电器及其选用", "电气安全与触电急救", "相关法律法规知识"),
        ("常用电工工具与仪表使用", "导线连接与绝缘恢复", "照明电路安装与检修",
         "单相电能表与配电箱安装", "三相异步电动机控制线路安装", "PLC 基本指令编程与接线",
         "电气故障排查", "综合实操练习与考核"),
        (("电工实训台", 10), ("万用表", 20), ("兆欧表", 5), ("三相异步电动机", 5)),
        (("BV 导线（卷）", 10), ("绝缘胶带（卷）", 40), ("接线端子（盒）", 10)),
        ("西安电力机械厂", "新城区职业技术学校")),
    "车工": _Occupation(
        ("车工（初级）", _PUBLISHER), "机械制造与自动化",
        ("职业道德与车工职业守则", "机械制图与识图", "公差配合与技术测量", "金属材料与热处理",
         "车床结构与维护保养", "车刀材料、几何角度与刃磨", "切削用量与切削液选用", "安全文明生产"),
        ("车床操作与日常保养", "车刀刃磨练习", "外圆、端面与台阶车削", "切槽与切断",
         "钻孔、车孔与铰孔", "圆锥面车削", "三角形螺纹车削", "综合实操练习与考核"),
        (("CA6140 卧式车床", 10), ("砂轮机", 2), ("游标卡尺", 20), ("外径千分尺", 10)),
        (("45 钢棒料（根）", 100), ("高速钢车刀（把）", 40), ("切削液（桶）", 4)),
        ("西安机床厂", "秦川机械有限公司")),
    "焊工": _Occupation(
        ("焊工（初级）", _PUBLISHER), "焊接技术与工程",
        ("职业道德与焊工职业守则", "焊接识图", "金属材料与焊接性", "焊接电弧与焊接冶金基础",
         "焊条电弧焊设备与材料", "焊接缺陷与检验", "焊接安全与劳动保护", "相关法律法规知识"),
        ("焊机操作与参数调节", "引弧与平敷焊练习", "板对接平焊", "板对接立焊", "角焊缝焊接",
         "管板焊接", "焊缝外观检验", "综合实操练习与考核"),
        (("直流弧焊机", 10), ("焊接工位（套）", 10), ("焊条烘干箱", 1), ("焊缝检验尺", 10)),
        (("E4303 焊条（公斤）", 100), ("Q235 试板（块）", 200), ("防护面罩镜片（片）", 40)),
        ("西安重型机械厂", "陕西建工安装集团")),
    "中式烹调师": _Occupation(
        ("中式烹调师（初级）", _PUBLISHER), "烹饪工艺与营养",
        ("职业道德与中式烹调师职业守则", "烹饪原料知识", "食品安全与卫生", "营养与膳食基础",
         "刀工与火候基础知识", "调味与勾芡知识", "厨房安全与设备使用", "相关法律法规知识"),
        ("刀工刀法练习", "原料初加工", "热菜配菜与盘饰", "炒、爆、熘技法", "炸、煎、贴技法",
         "烧、焖、炖技法", "冷菜制作", "综合实操练习与考核"),
        (("燃气炒灶（台）", 10), ("不锈钢操作台", 10), ("冰箱", 2), ("排烟净化设备（套）", 1)),
        (("烹饪原料（批）", 8), ("调味品（批）", 8), ("食用油（桶）", 10)),
        ("西安饭庄", "新城区烹饪职业培训中心")),
}


def _occupation(occupation: str, level: str) -> _Occupation:
    known = _OCCUPATIONS.get(occupation)
    if known is not None:
        return known
    return _Occupation(
        (f"{occupation}（{level}）", _PUBLISHER), occupation,
        (f"职业道德与{occupation}职业守则", f"{occupation}基础知识", f"{occupation}工作规范与流程",
         f"{occupation}常用工具与设备", f"{occupation}{level}技能要求（一）",
         f"{occupation}{level}技能要求（二）", "安全生产与劳动保护", "相关法律法规知识"),
        (f"{occupation}工具与设备操作", f"{occupation}基本操作训练（一）", f"{occupation}基本操作训练（二）",
         f"{occupation}{level}技能训练（一）", f"{occupation}{level}技能训练（二）",
         f"{occupation}{level}技能训练（三）", "常见问题处理与安全操作", "综合实操练习与考核"),
        ((f"{occupation}实训工位（套）", 10), ("多媒体教学设备（套）", 1)),
        ((f"{occupation}实训耗材（批）", 4),),
        (f"新城区{occupation}服务中心", "西安市职业技能实训基地"))


# ---------------------------------------------------------------------------------------
# people

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
_GIVEN_MALE = ("伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华",
               "飞", "鑫", "波", "宁", "建国", "志强", "海涛", "俊杰", "晓东", "文博", "浩然", "子轩", "宇航",
               "振华", "国栋", "家豪", "春生", "立新", "永刚")
_GIVEN_FEMALE = ("芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "婷", "雪", "慧", "莹", "琳",
                 "洁", "欣", "颖", "丹", "萍", "秀英", "桂兰", "晓燕", "丽娟", "海燕", "雅琴", "梦瑶",
                 "思雨", "佳怡", "欣怡", "文静", "春梅", "玉兰", "红霞", "小红")
#: GB/T 2260 county codes of 西安市 (the sample institution is in its 新城区)
_REGIONS = ("610102", "610103", "610104", "610111", "610112", "610113", "610114", "610115",
            "610116", "610117", "610118", "610122", "610124")
_ETHNICITIES = ("汉族",) * 8 + ("回族", "满族")
_EDUCATIONS = ("大学本科", "大学本科", "大学专科", "硕士研究生")
_POLITICAL = ("中共党员", "群众", "群众", "中共党员", "共青团员")
_MOBILE_PREFIXES = ("133", "135", "136", "138", "139", "150", "151", "152", "158", "159", "177",
                    "180", "186", "187", "189", "199")


class _People:
    """Deterministic people with package-wide unique 身份证号 and names per group."""

    def __init__(self, report: date) -> None:
        self.report = report
        self.ids: set[str] = set()
        self.phones: set[str] = set()

    def id_number(self, rng: random.Random, gender: str, min_age: int, max_age: int) -> str:
        from pipeline.check.identity import make_id_number

        while True:
            birth = self.report - timedelta(days=rng.randint(min_age * 365 + 10, max_age * 365 - 10))
            seq = rng.randrange(0, 500) * 2 + (1 if gender == "男" else 0)
            number = make_id_number(rng.choice(_REGIONS), birth, seq)
            if number not in self.ids:
                self.ids.add(number)
                return number

    def phone(self, rng: random.Random) -> str:
        while True:
            number = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    @staticmethod
    def name(rng: random.Random, gender: str, taken: set[str]) -> str:
        given = _GIVEN_MALE if gender == "男" else _GIVEN_FEMALE
        for attempt in range(1000):
            name = rng.choice(_SURNAMES) + rng.choice(given)
            if attempt > 200:  # a very large class: a third character keeps names apart
                name += rng.choice(given)[:1]
            if name not in taken:
                taken.add(name)
                return name
        raise RuntimeError("no free sample name")  # pragma: no cover


def _rng(*parts: object) -> random.Random:
    """A random generator seeded by its arguments (stable across runs and machines)."""
    return random.Random(zlib.crc32("|".join(map(str, parts)).encode("utf-8")))


# ---------------------------------------------------------------------------------------
# forms


def _iso(d: date) -> str:
    return d.isoformat()


def _form(kind: str, **fields: Any) -> dict[str, Any]:
    return {"form": kind, "version": 1, **fields}


def _half(value: float) -> float | int:
    """4.0 -> 4 and 4.5 -> 4.5: whole hours are written as integers."""
    return int(value) if float(value).is_integer() else value


def sample_forms(institution: str, report_date: date, trainings: Sequence[tuple[str, str, int]],
                 theory_mode: Sequence[str], practice_mode: Sequence[str], *,
                 online_platform: str = DEFAULT_PLATFORM, tag: str = "") -> dict[str, dict[str, Any]]:
    """Every form of a complete, correct package, keyed by its path below the level-1
    folder (``"培训方案.json"``, ``"育婴师初级/签到表.json"``), as dicts ready for
    :func:`form_bytes`. Which training forms exist follows the modes (spec section 2):
    those :func:`~pipeline.check.contract.required_training_forms` names, and the
    practice equipment when practice is offline.
    Deterministic; ``tag`` goes into the plan's remarks and changes nothing else."""
    trainings = [(str(o), str(lv), int(n)) for o, lv, n in trainings]
    theory_mode, practice_mode = list(theory_mode), list(practice_mode)
    end = report_date - timedelta(days=PLAN_END_BEFORE_REPORT)
    start = end - timedelta(days=PLAN_DAYS - 1)
    people = _People(report_date)
    # The calls on rng and people below are in a fixed order: it is what makes the
    # names, numbers and phones (and so the bytes of every form) the same on every run.
    rng = _rng("institution", institution)
    contact = people.name(rng, rng.choice("男女"), set())
    legal_rep = people.name(rng, rng.choice("男女"), {contact})
    forms: dict[str, dict[str, Any]] = {
        PLAN_FORM: _plan(institution, contact, people.phone(rng), trainings, theory_mode, practice_mode,
                         online_platform, start, end, tag),
        PLEDGE_FORM: _pledge(institution, legal_rep, f"029-8765{rng.randrange(10**4):04d}", report_date),
    }
    trainers: list[dict[str, Any]] = []
    training_forms: dict[str, dict[str, Any]] = {}
    trainer_names: set[str] = {contact, legal_rep}
    for index, (occupation, level, count) in enumerate(trainings):
        info = _occupation(occupation, level)
        trng = _rng("training", institution, occupation, level, count, index)
        theory_teacher, practice_teacher = [
            _trainer(trng, people, trainer_names, institution, occupation, level, info, role)
            for role in ("theory", "practice")]
        trainers += [theory_teacher, practice_teacher]
        training = _Training(occupation, level, info, _as_teacher(theory_teacher), _as_teacher(practice_teacher),
                             _trainees(trng, people, count))
        for kind, form in _training_forms(training, start, end, theory_mode, practice_mode,
                                          online_platform).items():
            training_forms[f"{training.folder}/{FILE_NAME_OF_FORM[kind]}"] = form
    forms[TRAINERS_FORM] = _form("trainers", trainers=trainers)
    forms.update(training_forms)
    return forms


def _plan(institution: str, contact: str, contact_phone: str, trainings: Sequence[tuple[str, str, int]],
          theory_mode: list[str], practice_mode: list[str], online_platform: str, start: date, end: date,
          tag: str) -> dict[str, Any]:
    """The training plan (培训方案.json). Its keys are in the order the form is written."""
    plan = _form(
        "training_plan",
        institution={"name": institution, "address": "陕西省西安市新城区建设路18号",
                     "contact_person": contact, "contact_phone": contact_phone},
        trainings=[{"occupation": o, "level": lv, "trainees": n} for o, lv, n in trainings],
        theory_mode=theory_mode, practice_mode=practice_mode,
    )
    if ONLINE in theory_mode + practice_mode:
        plan["online_platform"] = online_platform
    textbooks: list[dict[str, str]] = []
    for o, lv, _ in trainings:
        title, publisher = _occupation(o, lv).textbook
        if not any(t["title"] == title for t in textbooks):
            textbooks.append({"title": title, "publisher": publisher})
    total_trainees = sum(n for _, _, n in trainings)
    plan.update(
        start_date=_iso(start), end_date=_iso(end), total_hours=PLAN_TOTAL_HOURS,
        textbooks=textbooks,
        result=(f"{len(trainings)} 个职业（工种）共 {total_trainees} 名学员全部完成规定学时培训，"
                "结业考核合格，已组织参加职业技能等级认定"),
        remarks=tag,
    )
    return plan


def _pledge(institution: str, legal_rep: str, landline: str, report_date: date) -> dict[str, Any]:
    """The integrity pledge (诚信承诺书.json), signed a week before the report date."""
    return _form(
        "integrity_pledge", institution_name=institution, legal_representative=legal_rep,
        contact_phone=landline,
        signed_date=_iso(report_date - timedelta(days=PLEDGE_SIGNED_BEFORE_REPORT)), accepted=True)


def _as_teacher(trainer: dict[str, Any]) -> dict[str, str]:
    """A trainer as an outline's session names them."""
    return {"name": trainer["name"], "id_number": trainer["id_number"]}


def _trainees(rng: random.Random, people: _People, count: int) -> list[dict[str, str]]:
    """The trainees of one training (names unique in the class, numbers in the package)."""
    class_names: set[str] = set()
    trainees = []
    for _ in range(count):
        gender = rng.choice("男女")
        trainees.append({"name": people.name(rng, gender, class_names),
                         "id_number": people.id_number(rng, gender, 19, 50)})
    return trainees


@dataclass(frozen=True)
class _Training:
    """One training of the plan, with the people its forms name."""

    occupation: str
    level: str
    info: _Occupation
    theory_teacher: dict[str, str]
    practice_teacher: dict[str, str]
    trainees: list[dict[str, str]]

    @property
    def folder(self) -> str:
        return self.occupation + self.level


def _training_forms(training: _Training, start: date, end: date, theory_mode: list[str],
                    practice_mode: list[str], online_platform: str) -> dict[str, dict[str, Any]]:
    """The forms of one training folder by form type: those the modes require, and the
    practice equipment (optional: operation-type occupations fill it in) when practice
    is offline."""
    required = required_training_forms(theory_mode, practice_mode)
    # offline sessions every 4 days from the plan's start, theory and practice 2 days apart
    theory_days = [start + timedelta(days=4 * k) for k in range(len(THEORY_HOURS))]
    practice_days = [start + timedelta(days=4 * k + 2) for k in range(len(PRACTICE_HOURS))]
    info = training.info
    forms: dict[str, dict[str, Any]] = {}
    offline_sessions: list[tuple[date, str]] = []
    if "theory_outline" in required:
        forms["theory_outline"] = _outline("theory_outline", training, theory_days, info.theory, THEORY_HOURS,
                                           training.theory_teacher)
        offline_sessions += [(d, THEORY_ROOM) for d in theory_days]
    if "practice_outline" in required:
        forms["practice_outline"] = _outline("practice_outline", training, practice_days, info.practice,
                                             PRACTICE_HOURS, training.practice_teacher)
        offline_sessions += [(d, PRACTICE_ROOM) for d in practice_days]
    if "sign_in" in required:
        forms["sign_in"] = _sign_in(training, sorted(offline_sessions))
    if "online_record" in required:
        forms["online_record"] = _online_record(training, start, end, theory_mode, practice_mode, online_platform)
    if OFFLINE in practice_mode:
        forms["practice_equipment"] = _form(
            "practice_equipment", occupation=training.occupation,
            equipment=[{"name": n, "quantity": q} for n, q in info.equipment],
            consumables=[{"name": n, "quantity": q} for n, q in info.consumables])
    return forms


def _sign_in(training: _Training, sessions: list[tuple[date, str]]) -> dict[str, Any]:
    """The sign-in sheet: every offline session day, every trainee signed."""
    return _form(
        "sign_in", occupation=training.occupation, level=training.level,
        sessions=[{"date": _iso(d), "location": room,
                   "trainees": [{"seq": i, "name": s["name"], "id_number": s["id_number"],
                                 "signed": True, "remarks": ""}
                                for i, s in enumerate(training.trainees, 1)]}
                  for d, room in sessions])


def _online_record(training: _Training, start: date, end: date, theory_mode: list[str],
                   practice_mode: list[str], online_platform: str) -> dict[str, Any]:
    """The online record: the online sections' contents as chapters, every trainee done.
    A section online only has its half of the plan's hours online; one online as well as
    offline adds some self-study."""
    hours = sum(ONLINE_ONLY_HOURS if mode == [ONLINE] else ONLINE_EXTRA_HOURS
                for mode in (theory_mode, practice_mode) if ONLINE in mode)
    contents = ((training.info.theory if ONLINE in theory_mode else ()) +
                (training.info.practice if ONLINE in practice_mode else ()))
    chapters = [f"第{_CHINESE_NUMBERS[i]}章 {title}" for i, title in enumerate(contents)]
    return _form(
        "online_record", occupation=training.occupation, level=training.level, platform=online_platform,
        start_date=_iso(start), end_date=_iso(end), outline=chapters,
        trainees=[{"name": s["name"], "id_number": s["id_number"], "hours": hours,
                   "completion_rate": 100, "signed_in": True} for s in training.trainees])


_CHINESE_NUMBERS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十",
                    "十一", "十二", "十三", "十四", "十五", "十六")


def _outline(kind: str, training: _Training, days: list[date], contents: Sequence[str],
             hours: Sequence[float], teacher: dict[str, str]) -> dict[str, Any]:
    """A theory or practice outline: one session a day of ``days``, all by ``teacher``."""
    return _form(kind, occupation=training.occupation, level=training.level, start_date=_iso(days[0]),
                 end_date=_iso(days[-1]), total_hours=_half(sum(hours)),
                 sessions=[{"seq": i, "content": content, "date": _iso(d), "teacher": dict(teacher),
                            "hours": _half(h)}
                           for i, (content, d, h) in enumerate(zip(contents, days, hours), 1)])


def _trainer(rng: random.Random, people: _People, taken: set[str], institution: str, occupation: str,
             level: str, info: _Occupation, role: str) -> dict[str, Any]:
    gender = rng.choice("男女")
    years = rng.randint(6, 20)
    employed_since = people.report.year - years
    before = info.employers[0 if role == "theory" else 1]
    work = (f"{employed_since - rng.randint(3, 8)}年7月—{employed_since}年6月 {before}；"
            f"{employed_since}年7月至今 {institution or '本校'}{occupation}专业{'理论' if role == 'theory' else '实训'}教师")
    return {
        "name": people.name(rng, gender, taken),
        "gender": gender,
        "ethnicity": rng.choice(_ETHNICITIES),
        "id_number": people.id_number(rng, gender, 32 + years // 2, 40 + years),
        "education": rng.choice(_EDUCATIONS),
        "political_status": rng.choice(_POLITICAL),
        "teaching_major": info.major,
        "teaching_years": years,
        "employer": institution or "本校",
        "phone": people.phone(rng),
        "certificate": {"occupation": occupation, "level": _LEVEL_UP.get(level, level)},
        "work_history": work,
        "awards": rng.choice(("", "优秀教师", f"市级{occupation}职业技能竞赛三等奖", "优秀培训讲师")),
        "remarks": "",
    }


def form_bytes(data: Any) -> bytes:
    """A form as it goes into a package: UTF-8 JSON (no BOM), Chinese unescaped, indented."""
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


# ---------------------------------------------------------------------------------------
# media

#: fonts that can draw Chinese, on Linux, Windows and macOS (the first found is used)
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
)


@lru_cache(maxsize=16)
def _font(size: int) -> tuple[Any, bool]:
    """(a font of ``size`` pixels, whether it draws Chinese)."""
    from PIL import ImageFont

    for path in _CJK_FONTS:
        if Path(path).is_file():
            try:
                return ImageFont.truetype(path, size), True
            except OSError:
                continue
    try:
        return ImageFont.load_default(size=size), False
    except TypeError:  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default(), False


def _text(label: str, fallback: str) -> tuple[str, Any]:
    """What to write and with which font: the label when a Chinese font exists, else its
    ASCII characters after ``fallback``."""
    font, cjk = _font(72)
    if cjk or label.isascii():
        return label or fallback, font
    ascii_part = "".join(c for c in label if c.isascii()).strip()
    return (f"{fallback} {ascii_part}".strip()), font


def _color(label: str) -> tuple[int, int, int]:
    r = _rng("color", label)
    return (r.randint(30, 90), r.randint(70, 130), r.randint(110, 170))


def _jpeg(image: Any, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


@lru_cache(maxsize=64)
def sample_photo(width: int = 1920, height: int = 1080, label: str = "") -> bytes:
    """A JPEG of a schematic classroom (blackboard with ``label``, desks) that passes the
    photo rules at the default size: 1920×1080 (≥ 1280×720), about 40 KB (≤ 2 MiB)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), _color(label))
    draw = ImageDraw.Draw(image)
    bx0, by0, bx1, by1 = width // 10, height // 9, width * 9 // 10, height * 11 // 18
    draw.rectangle((bx0, by0, bx1, by1), fill=(38, 90, 60), outline=(200, 170, 110), width=max(4, width // 160))
    text, font = _text(label, "SAMPLE PHOTO")
    draw.text((width // 2, (by0 + by1) // 2), text, font=font, fill=(245, 245, 235), anchor="mm")
    desk_w, desk_h = width // 10, height // 22
    for row in range(2):
        for col in range(5):
            x = width // 8 + col * (width * 3 // 20)
            y = by1 + height // 12 + row * (height // 7)
            draw.rectangle((x, y, x + desk_w, y + desk_h), fill=(150, 110, 70))
    return _jpeg(image)


@lru_cache(maxsize=16)
def sample_screenshot(label: str = "", width: int = 1280, height: int = 800) -> bytes:
    """A PNG mock-up of an online-platform page (course list, 100 % progress bars), well
    under the 5 MiB limit of a screenshot."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (245, 247, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 70), fill=(22, 119, 255))
    text, font = _text(label, "SAMPLE SCREENSHOT")
    draw.text((30, 35), text, font=font.font_variant(size=36) if hasattr(font, "font_variant") else font,
              fill=(255, 255, 255), anchor="lm")
    for row in range(8):
        y = 110 + row * 80
        draw.rectangle((40, y, width - 40, y + 60), fill=(255, 255, 255), outline=(220, 223, 230))
        draw.rectangle((60, y + 22, 420, y + 38), fill=(200, 205, 215))
        draw.rectangle((width - 460, y + 24, width - 100, y + 36), fill=(82, 196, 26))  # 100 %
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=True)
    return buf.getvalue()


@lru_cache(maxsize=4)
def sample_pledge_scan(institution: str = "", width: int = 1240, height: int = 1754) -> bytes:
    """A JPEG "scan" of the signed and stamped pledge (A4 at 150 dpi): title, text lines
    and a red seal. Its presence is what avoids warning W_PLEDGE_SCAN."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (252, 252, 248))
    draw = ImageDraw.Draw(image)
    title, font = _text("诚信承诺书", "PLEDGE (SAMPLE)")
    draw.text((width // 2, 160), title, font=font, fill=(20, 20, 20), anchor="mm")
    for line in range(22):
        y = 280 + line * 46
        draw.rectangle((140 if line % 6 else 200, y, width - (140 if line % 5 else 420), y + 14),
                       fill=(120, 120, 120))
    cx, cy, r = width - 340, height - 380, 150
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(200, 30, 30), width=10)
    star = [(cx, cy - 50), (cx + 14, cy - 12), (cx + 50, cy - 12), (cx + 20, cy + 10), (cx + 32, cy + 48),
            (cx, cy + 24), (cx - 32, cy + 48), (cx - 20, cy + 10), (cx - 50, cy - 12), (cx - 14, cy - 12)]
    draw.polygon(star, fill=(200, 30, 30))
    return _jpeg(image, quality=80)


@lru_cache(maxsize=1)
def sample_video() -> bytes:
    """The shipped sample video (``pipeline/kit/example_media/sample.mp4``): 150 s, 1280×720,
    1 frame per second, H.264 in an MPEG-4 (isom) file, about 33 KB. It was made once with
    PyAV (libx264, preset veryslow, crf 38, tune stillimage, 1 s packets on a 1/1000 time
    base): a blackboard reading "SAMPLE VIDEO" and a progress bar that moves every second.
    Not package data in pyproject yet: it is found in the source tree (editable install)."""
    return resources.files("pipeline.kit").joinpath("example_media/sample.mp4").read_bytes()


# ---------------------------------------------------------------------------------------
# the package


def _folders(forms: dict[str, dict[str, Any]]) -> list[str]:
    plan = forms[PLAN_FORM]
    return [t["occupation"] + t["level"] for t in plan["trainings"]]


def _default_media_rules() -> MediaRules:
    """The media rules the example meets and its README states: the shipped policy's."""
    return load_policy().media


def package_files(institution: str = DEFAULT_INSTITUTION, report_date: date | None = None,
                  trainings: Sequence[tuple[str, str, int]] = DEFAULT_TRAININGS,
                  theory_mode: Sequence[str] = (OFFLINE,), practice_mode: Sequence[str] = (OFFLINE,),
                  *, online_platform: str = DEFAULT_PLATFORM, screenshots: int = 2,
                  tag: str = "", workbook: bool = False) -> dict[str, bytes]:
    """Every file of the example package: {path below the level-1 folder: bytes}. Each
    section folder holds as many photos and videos as the shipped policy asks for.
    ``workbook``: each folder's forms as the sheets of one ``表单.xlsx`` (spec section 9)
    instead of JSON files."""
    report_date = report_date or date.today()
    rules = _default_media_rules()
    forms = sample_forms(institution, report_date, trainings, theory_mode, practice_mode,
                         online_platform=online_platform, tag=tag)
    if workbook:
        files = _workbooks(forms, datetime.combine(report_date, datetime.min.time()).replace(hour=9))
    else:
        files = {path: form_bytes(data) for path, data in forms.items()}
    files[_PLEDGE_SCAN] = sample_pledge_scan(institution)
    online = ONLINE in list(theory_mode) + list(practice_mode)
    for folder in _folders(forms):
        if online:
            for n in range(1, screenshots + 1):
                name = f"{SCREENSHOT_STEM}{n}"
                files[f"{folder}/{name}{_SCREENSHOT_EXT}"] = sample_screenshot(f"{folder} {name}")
        for section in SECTIONS:
            for n in range(1, rules.photo_count + 1):
                stem = media_name(folder, section, n, "")  # what the photo's blackboard reads
                files[f"{folder}/{section}/{stem}{_PHOTO_EXT}"] = sample_photo(label=stem)
            for n in range(1, rules.video_count + 1):
                files[f"{folder}/{section}/{media_name(folder, section, n, _VIDEO_EXT)}"] = sample_video()
    return dict(sorted(files.items()))


def _workbooks(forms: dict[str, dict[str, Any]], stamp: datetime) -> dict[str, bytes]:
    """The forms as one workbook per folder: {"表单.xlsx" or "<folder>/表单.xlsx": bytes}."""
    from pipeline.kit.workbook import workbook_bytes

    by_folder: dict[str, dict[str, Any]] = {}
    for path, form in forms.items():
        folder = path.rpartition("/")[0]
        by_folder.setdefault(folder, {})[form["form"]] = form
    return {f"{folder}/{WORKBOOK_FILE}" if folder else WORKBOOK_FILE: workbook_bytes(folder_forms, stamp=stamp)
            for folder, folder_forms in by_folder.items()}


def zip_package(root: str, files: dict[str, bytes], stamp: datetime | None = None) -> bytes:
    """The ZIP of a package folder: entries ``<root>/<path>``, UTF-8 names (flag bit 11),
    media stored as they are, forms and everything else deflated."""
    when = (stamp or datetime(2026, 1, 1, 9, 0, 0)).timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in sorted(files.items()):
            info = zipfile.ZipInfo(f"{root}/{path}", date_time=when)
            media = path.lower().endswith(_MEDIA_SUFFIXES)
            info.compress_type = zipfile.ZIP_STORED if media else zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.flag_bits |= 0x800  # names are UTF-8 (Python sets it for non-ASCII names anyway)
            zf.writestr(info, data)
    return buf.getvalue()


def write_example(target_dir: Path | str, *, institution: str = DEFAULT_INSTITUTION,
                  report_date: date | None = None,
                  trainings: Iterable[tuple[str, str, int]] = DEFAULT_TRAININGS,
                  theory_mode: Sequence[str] = (OFFLINE,), practice_mode: Sequence[str] = (OFFLINE,),
                  online_platform: str = DEFAULT_PLATFORM, workbook: bool = False) -> tuple[Path, Path]:
    """Write the example into ``target_dir`` (created if needed): the package folder
    ``<institution><YYYYMMDD>/``, its ZIP ``<institution><YYYYMMDD>.zip`` and ``README.txt``
    beside them. Returns (folder, zip path). Never overwrites: if the folder or the ZIP
    exists already (an institution may have put its own material in it),
    :class:`FileExistsError` is raised and nothing is written. ``workbook``: the forms
    as one ``表单.xlsx`` per folder instead of JSON files (and the README says so)."""
    report_date = report_date or date.today()
    trainings = [tuple(t) for t in trainings]
    target = Path(target_dir)
    root = f"{institution}{report_date:%Y%m%d}"
    folder, zip_path = target / root, target / f"{root}.zip"
    for existing in (folder, zip_path):
        if existing.exists():
            raise FileExistsError(f"{existing} already exists")
    files = package_files(institution, report_date, trainings, theory_mode, practice_mode,  # type: ignore[arg-type]
                          online_platform=online_platform, workbook=workbook)
    target.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        out = folder / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    stamp = datetime.combine(report_date, datetime.min.time()).replace(hour=9)
    zip_path.write_bytes(zip_package(root, files, stamp))
    (target / "README.txt").write_text(
        readme_text(root, trainings, theory_mode, practice_mode, workbook=workbook),  # type: ignore[arg-type]
        encoding="utf-8-sig", newline="\r\n")  # BOM + CRLF: Windows Notepad shows it right
    return folder, zip_path


#: what each training form is, as README.txt explains it
_README_FORM_NOTES = {
    "theory_outline": "理论知识培训内容（大纲），理论线下培训时必须有",
    "practice_outline": "实际操作培训内容（大纲），实操线下培训时必须有",
    "sign_in": "培训学员签到表，每个线下培训日一次签到，列出全部学员",
    "online_record": "线上培训上报记录（平台、起止日期、大纲目录、学员学时与完成率）",
    "practice_equipment": "实际操作培训设备设施，操作类职业填写，可选",
}


def _mb(size: int) -> str:
    """2097152 -> "2 MB": the policy's byte limits as the guide states them (MiB)."""
    return f"{size / 1024**2:g} MB"


def _minutes(seconds: float) -> str:
    """120.0 -> "2"."""
    return f"{seconds / 60:g}"


def _format_name(ext: str) -> str:
    """".jpg" -> "JPG"."""
    return ext.lstrip(".").upper()


def readme_text(root: str, trainings: Sequence[tuple[str, str, int]], theory_mode: Sequence[str],
                practice_mode: Sequence[str], *, workbook: bool = False, rules: MediaRules | None = None) -> str:
    """The Chinese guide written beside the example folder. Names come from the contract,
    counts and limits from ``rules`` (default: the shipped policy's; the web's rules page
    gives the policy in force). ``workbook``: the forms are workbooks."""
    rules = rules or _default_media_rules()
    first = trainings[0] if trainings else DEFAULT_TRAININGS[0]
    folder = first[0] + first[1]
    others = [t[0] + t[1] for t in trainings[1:]]
    text = (_readme_intro(root) + ("" if workbook else _readme_workbook_first())
            + _readme_layout(root, folder, others, list(theory_mode), list(practice_mode), rules)
            + _readme_replacing(folder, rules)
            + _readme_packing_and_checking(root))
    return _as_workbook_readme(text, list(theory_mode), list(practice_mode)) if workbook else text


def _as_workbook_readme(text: str, theory_mode: list[str], practice_mode: list[str]) -> str:
    """The guide of the workbook example: each folder's forms are the sheets of its
    表单.xlsx; the lines naming JSON files say so, the JSON editing advice gives way to
    the workbook's."""
    for name in (PLAN_FORM, PLEDGE_FORM, TRAINERS_FORM, *FILE_NAME_OF_FORM.values()):
        sheet = name.removesuffix(".json")
        text = text.replace(f"  {name}：", f"  {WORKBOOK_FILE} 中的工作表“{sheet}”：")
        text = text.replace(f"{name}", f"“{sheet}”表")
    accepted = next(c.label for c in sheet_model("integrity_pledge").fields if c.path == ("accepted",))
    text = text.replace("（accepted 必须为 true）", f"（“{accepted}”须为“是”）")
    start = text.index("2. 表单（.json 文件）")
    end = text.index("3. 二级文件夹")
    body = text[start:end]
    rules_start = body.index("   - 日期")
    rules = body[rules_start:body.index("   培训方式改变时")]
    root_sheets = "、".join(SHEET_OF_FORM[k] for k in ROOT_FORM_TYPES)
    training_sheets = "、".join(SHEET_OF_FORM[k] for k in required_training_forms(theory_mode, practice_mode))
    workbook_part = (
        f"2. 表单（{WORKBOOK_FILE}）：每个文件夹的表单是该文件夹中“{WORKBOOK_FILE}”的各张工作表\n"
        f"   （一级文件夹：{root_sheets}；二级文件夹：{training_sheets} 等）。\n"
        f"   用 Excel 或 WPS 打开，按第一张表“{INSTRUCTIONS_SHEET}”填写，把示例内容换成本机构的真实内容；\n"
        "   不要改工作表名称、表头和标签文字；保存为 .xlsx 格式（WPS 不要存为 .et 或 .xls）。\n"
        + rules
        + "   培训方式改变时（线上/线下），需要的工作表也随之改变：不需要的工作表请删除，\n"
          "   可用 `pipeline example 目录 --workbook --online` 等选项生成对应的示例作参考；\n"
          "   空白工作簿可用 `pipeline template` 生成。\n")
    return text[:start] + workbook_part + text[end:]


def _readme_intro(root: str) -> str:
    return f"""职业技能培训上报包 —— 示例说明
================================

本目录由 `pipeline example` 生成，是一份“完整、可以通过检查”的示例上报包：
  {root}/：示例上报包文件夹（一级文件夹）
  {root}.zip：上面文件夹的压缩包，可直接用 `pipeline check` 检查
  README.txt：本说明

注意：示例中的机构、人员、身份证号、电话均为虚构的示例数据，照片和视频只是示意画面。
请全部换成本机构的真实材料后再上报，切勿直接上传示例。

"""


def _readme_workbook_first() -> str:
    """The JSON example's guide says first that the forms are easier in a spreadsheet."""
    return (f"推荐：用 Excel 或 WPS 填写表单\n"
            f"------------------------------\n"
            f"各表单也可以（并推荐）用 Excel 或 WPS 表格填写，不必编辑下面的 .json 文件：一级文件夹和每个\n"
            f"培训文件夹中各放一个“{WORKBOOK_FILE}”，其中每张工作表就是一份表单（工作表名与表单名相同，\n"
            f"如“培训方案”“签到表”）。空白模板和填好的示例工作簿请向上报系统管理员索取；工作簿中第一张\n"
            f"工作表“填写说明”逐项说明怎么填。同一份表单不要既有 .json 文件又有工作表。下文按 .json 文件\n"
            f"说明，各项内容与工作表中的同名栏目一一对应。\n\n")


def _readme_layout(root: str, folder: str, others: list[str], theory_mode: list[str],
                   practice_mode: list[str], rules: MediaRules) -> str:
    """Part 一: the folders and files of the package, the first training's in full."""
    more = f"（另有 {'、'.join(others)}，结构相同）" if others else ""
    other_scans = "、".join(name for name in PLEDGE_SCANS if name != _PLEDGE_SCAN)
    training_files = "\n".join(f"    {line}" for line in _readme_training_files(theory_mode, practice_mode, rules))
    sections = "\n".join(_readme_section(folder, section, rules) for section in SECTIONS)
    return f"""一、文件夹结构
--------------
{root}/
  一级文件夹，名称为“培训机构名称 + 上报日期（YYYYMMDD）”，其中有：
  {PLAN_FORM}：职业技能等级认定培训方案表
  {PLEDGE_FORM}：诚信承诺书（accepted 必须为 true）
  {_PLEDGE_SCAN}：盖章、签字后的诚信承诺书扫描件（也可用 {other_scans}；缺少时会有提醒）
  {TRAINERS_FORM}：培训教师个人简历（全部培训教师）
  {folder}/
    二级文件夹，名称为“职业（工种）+ 等级”，培训方案中每个职业等级一个{more}，其中有：
{training_files}
{sections}

"""


def _readme_section(folder: str, section: str, rules: MediaRules) -> str:
    """A section folder and the names of its first and last photo and video."""
    def first_to_last(ext: str, count: int) -> str:
        return f"{media_name(folder, section, 1, ext)} … {media_name(folder, section, count, ext)}"

    return (f"    {section}/：三级文件夹，{section}培训照片 {rules.photo_count} 张、视频 {rules.video_count} 段：\n"
            f"      {first_to_last(_PHOTO_EXT, rules.photo_count)}\n"
            f"      {first_to_last(_VIDEO_EXT, rules.video_count)}")


def _readme_training_files(theory_mode: list[str], practice_mode: list[str], rules: MediaRules) -> list[str]:
    """A training folder's own files under the modes, one line each, as the example has them."""
    lines = [f"{FILE_NAME_OF_FORM[kind]}：{_README_FORM_NOTES[kind]}"
             for kind in required_training_forms(theory_mode, practice_mode)]
    if ONLINE in theory_mode + practice_mode:
        first, second = (f"{SCREENSHOT_STEM}{n}{_SCREENSHOT_EXT}" for n in (1, 2))
        lines.append(f"{first}、{second} …：线上培训平台截屏，可选，最多 {rules.screenshot_max_count} 张，"
                     f"每张不超过 {_mb(rules.screenshot_max_bytes)}")
    if OFFLINE in practice_mode:
        lines.append(f"{FILE_NAME_OF_FORM['practice_equipment']}：{_README_FORM_NOTES['practice_equipment']}")
    return lines


def _readme_replacing(folder: str, rules: MediaRules) -> str:
    """Part 二: how to put the institution's own material in place of the example's."""
    resolution = f"{rules.min_long_side}×{rules.min_short_side}"
    section_folders = "、".join(f"{section}/" for section in SECTIONS)
    photo_rule = (f"每个 {section_folders} 文件夹各 {rules.photo_count} 张，{_format_name(_PHOTO_EXT)} 格式，"
                  f"分辨率至少 {resolution}，单张不超过 {_mb(rules.photo_max_bytes)}")
    video_rule = (f"每个文件夹各 {rules.video_count} 段，{_format_name(_VIDEO_EXT)} 格式，"
                  f"每段 {_minutes(rules.video_min_seconds)}～{_minutes(rules.video_max_seconds)} 分钟，"
                  f"分辨率至少 {resolution}，单个不超过 {_mb(rules.video_max_bytes)}")
    first_photo = media_name(folder, SECTIONS[0], 1, _PHOTO_EXT)
    last_video = media_name(folder, SECTIONS[-1], rules.video_count, _VIDEO_EXT)
    numbers = f"照片序号 1～{rules.photo_count}、视频序号 1～{rules.video_count}"
    return f"""二、换成本机构的材料
--------------------
1. 文件夹改名：一级文件夹改为“本机构全称 + 上报日期”，如“{DEFAULT_INSTITUTION}20261120”。
   机构名称必须与 {PLAN_FORM} 和 {PLEDGE_FORM} 中填写的完全一致；上报日期不能晚于上传当天。
2. 表单（.json 文件）：用记事本或任意文本编辑器打开，只改引号里的内容和数字，不要删改字段名、
   冒号、逗号和括号；保存时选择“UTF-8”编码。
   - 日期一律写成 2026-11-20 这样的格式；
   - 身份证号填 18 位（最后一位可以是 X），培训教师的性别要与身份证号一致；
   - 电话填 11 位手机号，或带区号的固定电话（如 029-87654321）；
   - 培训方案的培训起止日期、诚信承诺书的签署日期不能晚于上报日期；大纲、签到、线上培训的日期
     都要在培训起止日期之内；
   - 大纲的总学时等于各次课学时之和（可以有半小时，如 4.5）；理论大纲与实操大纲的总学时相加
     应等于培训方案的培训学时；
   - 大纲中的培训老师必须是 {TRAINERS_FORM} 中的教师，姓名和身份证号一致；
   - 签到表：大纲中每个培训日期都要有当天的签到，每次签到列出全部学员且都已签到；签到学员人数
     与培训方案中的培训人数一致；
   - 线上培训记录：平台名称与培训方案一致，每名学员学时大于 0、完成率 100、已在线签到。
   培训方式改变时（线上/线下），需要的表单也随之改变，可用 `pipeline example 目录 --online`
   等选项生成对应的示例作参考。
3. 二级文件夹：每个培训的职业（工种）+ 等级一个，名称与培训方案一致，如“育婴师初级”“车工中级”。
   等级写作：{"、".join(LEVELS)}（不要写“五级”“初级工”等）。
4. 照片和视频：用本机构培训现场的照片、视频替换示例文件，文件名保持不变。
   - 照片：{photo_rule}；
   - 视频：{video_rule}；
     建议使用 H.264 编码（手机“高效/HEVC”格式的视频可能无法在网页播放）；
   - 命名：职业（工种）+ 等级 + {"或".join(SECTIONS)} + 序号，如“{first_photo}”“{last_video}”；
     {numbers} 各用一次；不要把 PNG、HEIC 等图片或 MOV 视频只改扩展名。
5. 不要在文件夹中放其它文件（如 Word 文档、说明文字、快捷方式）。

"""


def _readme_packing_and_checking(root: str) -> str:
    """Parts 三 and 四: zipping the folder and checking the ZIP before the upload."""
    return f"""三、打包
--------
Windows：在一级文件夹上点右键 → 发送到 → 压缩(zipped)文件夹，得到“{root}.zip”。
  也可用 WinRAR、7-Zip、好压等工具，但一定要选择 ZIP 格式（不要 RAR、7z），不要加密码。
  照片和视频本身已经压缩过，用“仅存储”方式打包也可以。
macOS：在访达中右键一级文件夹 → 压缩。

四、检查
--------
上传前先自查（与服务器上的检查完全相同）：登录上报网站，打开“上报与自查”，在“自查（不上报）”
中选择压缩包，或直接选择整个一级文件夹（网页会先压缩）。自查不会上报，也不出回执。
结果显示“检查通过”即可在同一页面上报；否则按办法逐项修改后再次自查。
装有本系统检查程序时，也可以在电脑上自查：
    pipeline check {root}.zip
"""
