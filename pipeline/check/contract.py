"""The contract's names (spec ``package-format.md``): every file, folder, form, level,
section and extension the package format fixes, and the ZIP record layout. Every other
place (layout, forms, rules, the watcher, the example, the docs) reads them from here.

What an operator may tune (counts of photos and videos, sizes, resolutions, durations,
the number of screenshots, ZIP limits, severities) is not here: it is the policy
(:mod:`pipeline.check.policy`, ``default_policy.toml``, spec section 5).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable

# ---------------------------------------------------------------------------------------
# the package (spec section 1)

#: junk that is ignored wherever it lies (listed in the receipt, never an error)
JUNK_FOLDER = "__macosx"  # compared case-insensitively, any segment
JUNK_FILE_NAMES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini"})  # case-insensitive
JUNK_PREFIXES = ("._", "~$")

#: the decision documents (spec section 6)
RECEIPT_FILE = "receipt.json"
ERRORS_FILE = "errors.json"

# ---------------------------------------------------------------------------------------
# ZIP records (APPNOTE 6.3.x, section 4.3): what the reader parses and the upload watcher
# looks for to tell a finished upload from one still arriving

LOCAL_HEADER_SIG = b"PK\x03\x04"
CENTRAL_HEADER_SIG = b"PK\x01\x02"
END_RECORD_SIG = b"PK\x05\x06"
ZIP64_END_RECORD_SIG = b"PK\x06\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"
#: the data descriptor after an entry's data, which is also the spanned/split archive
#: marker some tools write first
DATA_DESCRIPTOR_SIG = SPANNING_MARKER = b"PK\x07\x08"
SPANNING_MARKER_OLD = b"PK00"
#: what a ZIP may start with: a local header, the spanning markers, or (an empty archive)
#: its end records
ZIP_LEADING_SIGNATURES = (LOCAL_HEADER_SIG, SPANNING_MARKER, SPANNING_MARKER_OLD, END_RECORD_SIG,
                          ZIP64_END_RECORD_SIG)

END_RECORD = struct.Struct("<4sHHHHLLH")  # ... comment length last
ZIP64_END_RECORD = struct.Struct("<4sQHHLLQQQQ")
ZIP64_LOCATOR = struct.Struct("<4sLQL")
CENTRAL_HEADER = struct.Struct("<4sBBHHHHHLLLHHHHHLL")
LOCAL_HEADER = struct.Struct("<4sHHHHHLLLHH")
MAX_COMMENT = 0xFFFF
#: the end record and the longest comment: where an end record must start
END_RECORD_SEARCH_BYTES = END_RECORD.size + MAX_COMMENT

# ---------------------------------------------------------------------------------------
# levels 1 and 2 (spec section 2)

PLAN_FORM = "培训方案.json"
PLEDGE_FORM = "诚信承诺书.json"
TRAINERS_FORM = "培训教师.json"
#: the stamped pledge's scan, optional (missing: warning W_PLEDGE_SCAN)
PLEDGE_SCANS = ("诚信承诺书.pdf", "诚信承诺书.jpg")

#: the levels as they must be written in folder names and forms
LEVELS = ("初级", "中级", "高级", "技师", "高级技师")
#: level aliases of the spec -> the level as it must be written
LEVEL_ALIASES = {
    "五级": "初级", "初级工": "初级",
    "四级": "中级", "中级工": "中级",
    "三级": "高级", "高级工": "高级",
    "二级": "技师",
    "一级": "高级技师",
}
#: the two level-3 folders of a training
SECTIONS = ("理论", "实操")

# ---------------------------------------------------------------------------------------
# forms (spec section 4): type (the "form" field) <-> file name

FILE_NAME_OF_FORM: dict[str, str] = {
    "training_plan": PLAN_FORM,
    "integrity_pledge": PLEDGE_FORM,
    "trainers": TRAINERS_FORM,
    "theory_outline": "理论培训大纲.json",
    "practice_outline": "实操培训大纲.json",
    "sign_in": "签到表.json",
    "online_record": "线上培训记录.json",
    "practice_equipment": "实操设备设施.json",
}
ROOT_FORM_TYPES = ("training_plan", "integrity_pledge", "trainers")
TRAINING_FORM_TYPES = ("theory_outline", "practice_outline", "sign_in", "online_record", "practice_equipment")
ALL_FORM_TYPES = tuple(FILE_NAME_OF_FORM)
ROOT_FORM_FILES = tuple(FILE_NAME_OF_FORM[t] for t in ROOT_FORM_TYPES)
#: the forms a training folder may hold (which are required depends on the plan's modes)
TRAINING_FORM_FILES = tuple(FILE_NAME_OF_FORM[t] for t in TRAINING_FORM_TYPES)

#: spec section 9: a folder's forms may come as the sheets of one workbook, each sheet named
#: like the form's file without ".json"
WORKBOOK_FILE = "表单.xlsx"
SHEET_OF_FORM: dict[str, str] = {kind: name.removesuffix(".json") for kind, name in FILE_NAME_OF_FORM.items()}
KIND_OF_SHEET: dict[str, str] = {sheet: kind for kind, sheet in SHEET_OF_FORM.items()}

#: a form file larger than this is no form (its content is not read)
MAX_FORM_BYTES = 16 * 1024 * 1024
#: the forms nest at most 4 levels; anything far deeper is not a form
MAX_FORM_DEPTH = 32

#: the training modes of the plan's theory_mode / practice_mode
OFFLINE, ONLINE = "offline", "online"


@dataclass(frozen=True)
class FormRequirement:
    """Where a form goes and when it is required: the docs (English) and the
    ``FORM_MISSING`` reason (Chinese) say the same thing."""

    where: str  # English, for docs/forms.md
    when: str  # English, for docs/forms.md
    reason: str  # Chinese, the {reason} of FORM_MISSING


REQUIREMENTS: dict[str, FormRequirement] = {
    "training_plan": FormRequirement(
        "level 1 (the `<机构名称><上报日期>` folder)",
        "always. Its absence or broken JSON is reported once, by the hierarchy check",
        "（必需，机构名称和培训项目以它为准）"),
    "integrity_pledge": FormRequirement(
        "level 1", "always", "（每个上报包都必须有诚信承诺书）"),
    "trainers": FormRequirement(
        "level 1", "always", "（每个上报包都必须有全部培训教师的个人简历）"),
    "theory_outline": FormRequirement(
        "each training folder `<职业><等级>/`",
        "when the plan's `theory_mode` has \"offline\"",
        "（培训方案的理论知识培训方式含线下培训）"),
    "practice_outline": FormRequirement(
        "each training folder `<职业><等级>/`",
        "when the plan's `practice_mode` has \"offline\"",
        "（培训方案的实际操作培训方式含线下培训）"),
    "sign_in": FormRequirement(
        "each training folder `<职业><等级>/`",
        "when `theory_mode` or `practice_mode` has \"offline\"",
        "（培训方案含线下培训，每次培训课均需学员签到）"),
    "online_record": FormRequirement(
        "each training folder `<职业><等级>/`",
        "when `theory_mode` or `practice_mode` has \"online\"",
        "（培训方案含线上培训）"),
    "practice_equipment": FormRequirement(
        "each training folder `<职业><等级>/`",
        "never (optional: operation-type occupations fill it in); validated when present",
        ""),
}


def required_training_forms(theory_mode: Iterable[str], practice_mode: Iterable[str]) -> tuple[str, ...]:
    """The form types a training folder must hold under the plan's modes (spec section 2):
    an outline per offline section, a sign-in sheet when anything is offline, an online
    record when anything is online."""
    theory, practice = set(theory_mode), set(practice_mode)
    wanted = []
    if OFFLINE in theory:
        wanted.append("theory_outline")
    if OFFLINE in practice:
        wanted.append("practice_outline")
    if OFFLINE in theory | practice:
        wanted.append("sign_in")
    if ONLINE in theory | practice:
        wanted.append("online_record")
    return tuple(wanted)


# ---------------------------------------------------------------------------------------
# media (spec sections 2 and 3)

#: what a file in a section folder is measured as
PHOTO, VIDEO, SCREENSHOT = "photo", "video", "screenshot"
PHOTO_EXTS = (".jpg", ".jpeg")  # .jpeg counts as .jpg wherever .jpg is allowed
VIDEO_EXTS = (".mp4",)
#: the formats the bytes must be in (whatever the extension says)
PHOTO_FORMATS = ("JPEG",)
SCREENSHOT_FORMATS = ("JPEG", "PNG")
#: online-platform screenshots in a training folder: 线上培训截图<n>.jpg|.jpeg|.png
SCREENSHOT_STEM = "线上培训截图"
SCREENSHOT_EXTS = (".jpg", ".jpeg", ".png")
#: other image and video extensions: in a section folder they still count as a photo or
#: a video (MEDIA_COUNT) and are NAME_PATTERN ("照片须为 JPG 格式")
IMAGE_LIKE_EXTS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".heic", ".heif", ".webp",
                             ".bmp", ".gif", ".tif", ".tiff", ".avif"})
VIDEO_LIKE_EXTS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".wmv", ".flv", ".3gp", ".mpg",
                             ".mpeg", ".webm", ".ts", ".mts", ".m2ts", ".rm", ".rmvb", ".vob"})


def media_name(training_folder: str, section: str, number: int, ext: str) -> str:
    """``育婴师初级理论1.jpg``: a photo's or video's name (spec section 3)."""
    return f"{training_folder}{section}{number}{ext}"
