"""The catalogue of every problem code in the package-format contract (spec section 7).

Errors in packages are data: each code has one Chinese message template and one hint
here, and every check reports through :func:`problem`. Later checks add uses, never new
ways to report. Templates use ``str.format`` fields; a check passes the values by name.

A code whose causes need different fixes (``PKG_LIMIT``: a bomb, a compression method,
a nested archive...) also has **causes**: a hint (and, where the usual wording would
mislead, a message template) per value of one parameter, ``fault``. The check passes
``fault=...`` as before and :func:`problem` picks the cause's wording; a fault with no
cause of its own gets the code's wording.
"""

from __future__ import annotations

import enum
import string
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from pipeline.check.privacy import mask_field, mask_known, numbers_in, redact, redact_value


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Family(str, enum.Enum):
    PACKAGE = "package"  # fatal: nothing inside the archive can be trusted
    HIERARCHY = "hierarchy"
    MEDIA = "media"
    FORM = "form"
    WARNING = "warning"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Cause:
    """The wording of one cause of a code (see the module docstring)."""

    hint: str  # how to fix this cause, Chinese, str.format fields allowed
    template: str | None = None  # None: the code's message template


#: the parameter whose value selects a code's cause
CAUSE_PARAMETER = "fault"


@dataclass(frozen=True)
class ProblemType:
    code: str
    family: Family
    severity: Severity
    title: str  # short Chinese name of the rule, for grouping in reports
    template: str  # Chinese message, str.format fields
    hint: str  # how to fix it, Chinese, str.format fields allowed
    causes: Mapping[str, Cause] = field(default_factory=dict)  # by the value of ``fault``

    @property
    def fatal(self) -> bool:
        return self.family is Family.PACKAGE

    def wording(self, params: Mapping[str, Any]) -> tuple[str, str]:
        """(message template, hint) for a problem with ``params``: its cause's, if any."""
        fault = params.get(CAUSE_PARAMETER)
        cause = self.causes.get(fault) if isinstance(fault, str) else None
        if cause is None:
            return self.template, self.hint
        return cause.template or self.template, cause.hint


@dataclass(frozen=True)
class Problem:
    """One error or warning found in a package: the unit every check yields.

    ``params`` are the values the message and hint were rendered from (masked like them):
    the problem as data, for tests and for everything that reads problems without reading
    Chinese. The decision documents carry the rendered text (``to_json``)."""

    code: str
    severity: Severity
    path: str
    message: str
    hint: str | None = None
    pointer: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: a form read from a workbook (spec section 9): the sheet and the cell of the value
    sheet: str | None = None
    cell: str | None = None

    @property
    def fatal(self) -> bool:
        return CATALOGUE[self.code].fatal

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "severity": self.severity.value, "path": self.path}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        if self.sheet is not None:
            out["sheet"] = self.sheet
        if self.cell is not None:
            out["cell"] = self.cell
        out["message"] = self.message
        if self.hint:
            out["hint"] = self.hint
        return out


def _t(code: str, family: Family, title: str, template: str, hint: str,
       severity: Severity = Severity.ERROR, causes: Mapping[str, Cause] | None = None) -> ProblemType:
    return ProblemType(code, family, severity, title, template, hint, MappingProxyType(dict(causes or {})))


# How to make one whole, standard ZIP: said by several hints.
_REPACK = ("在 Windows 中右键材料文件夹，选择“发送到 → 压缩(zipped)文件夹”；或用 7-Zip、Bandizip 等工具"
           "选择“ZIP”格式、“Deflate”（标准）压缩方法")
_SIZES = "请检查是否误放了多余的大文件（如未剪辑的原始视频），删除后重新压缩上传；照片和视频请按要求控制大小。"
_PKG_LIMIT_CAUSES = {
    "entries": Cause("请只压缩材料文件夹本身，删除与上报无关的文件后重新压缩上传。"),
    "directory_bytes": Cause("请只压缩材料文件夹本身，删除与上报无关的文件后重新压缩上传。"),
    "entry_size": Cause(_SIZES),
    "total_size": Cause(_SIZES),
    "ratio": Cause("该文件压缩前后的大小相差异常。请确认放入的是正常的材料文件，然后重新压缩：" + _REPACK + "。"),
    "beyond_declared_size": Cause("压缩包记录的文件大小与实际内容不符。请重新压缩：" + _REPACK + "。"),
    "method": Cause("请用标准的 ZIP 压缩方法重新压缩：" + _REPACK
                    + "；不要选择 BZip2、LZMA、PPMd、Deflate64 等压缩方法。"),
    "zip_feature": Cause("请用标准的 ZIP 格式重新压缩：" + _REPACK + "。"),
    "nested_archive": Cause("请先把嵌套的压缩包解压，将其中的材料文件直接放入相应的文件夹，删除该压缩包后重新压缩上传。"),
}


#: FORM_SCHEMA's hint by the JSON Schema keyword the value breaks (``fault``)
_FIX_VALUE = Cause("请按上面的要求改正该项的值。")
_FORM_SCHEMA_CAUSES = {
    "required": Cause("请补填该项：字段名须与示例包中的表单模板完全一致（英文字段名、英文双引号），值不能为空。"),
    "additionalProperties": Cause("请删除该字段，或改成示例包中表单模板里的字段名（字段名须一字不差）。"),
    "enum": Cause("请从上面列出的可选值中选一个，照原样填写。"),
    "const": Cause("请照上面的要求原样填写该项。"),
    "type": Cause("文本须用英文双引号括起来（如 \"张三\"）；数字、true、false 不加引号（如 20、true）。"),
    "minimum": _FIX_VALUE, "maximum": _FIX_VALUE, "exclusiveMinimum": _FIX_VALUE,
    "exclusiveMaximum": _FIX_VALUE, "multipleOf": _FIX_VALUE, "nonfinite": _FIX_VALUE,
    "pattern": Cause("请按上面的格式要求改正该项（日期写作 2026-10-24 这样的格式）。"),
    "format": Cause("请按上面的格式要求改正该项（日期写作 2026-10-24 这样的格式）。"),
    "minLength": Cause("该项不能为空，请补填。"),
    "maxLength": Cause("请缩短该项内容。"),
    "minItems": Cause("请至少填写一项。"),
    "maxItems": Cause("请删去多余的项。"),
    "uniqueItems": Cause("请删去重复的项。"),
    "form_kind": Cause("请确认文件内容与文件名一致。"),
}

#: FORM_TRAINEES's hint by what is wrong (``fault``)
_FORM_TRAINEES_CAUSES = {
    "not_signed": Cause("每名学员每次课都须签到。如该学员确已到课，请补签后把“签到”改为 true；"
                        "如未到课，请与管理员联系，不要替学员签到。"),
    "repeated": Cause("同一次签到中每名学员只能出现一次：请删除重复的一行，或核对其中一人的身份证号。"),
    "count": Cause("请核对学员名单，使其人数与培训方案中的培训人数一致；如培训人数填错，请改正培训方案。"),
    "online_incomplete": Cause("线上培训须全部学员完成（完成率 100%）并在平台签到：请在学员完成后重新导出线上培训记录。"),
}


P, H, M, F, W = Family.PACKAGE, Family.HIERARCHY, Family.MEDIA, Family.FORM, Family.WARNING

_TYPES: tuple[ProblemType, ...] = (
    # -- package (spec section 1): fatal -------------------------------------------------
    _t("PKG_NOT_ZIP", P, "不是 ZIP 压缩包",
       "上传的文件不是 ZIP 压缩包（识别为：{detected}）。",
       "请用 ZIP 格式重新压缩后上传：在 Windows 中右键文件夹，选择“发送到 → 压缩(zipped)文件夹”；"
       "不要使用 RAR、7z 等格式。",
       causes={"split_volume": Cause(
           "请不要分卷压缩：把材料文件夹重新压缩为一个完整的 ZIP 文件（" + _REPACK
           + "，不要设置“分卷大小”），然后只上传这一个文件。",
           "上传的文件是分卷压缩包中的一卷（{detected}），不是完整的 ZIP 压缩包，无法单独打开。")}),
    _t("PKG_CORRUPT", P, "压缩包损坏",
       "压缩包已损坏或不完整：{detail}。",
       "请重新压缩并完整上传；若通过 SFTP 上传，请确认上传完成后再断开连接。"),
    _t("PKG_ENCRYPTED", P, "压缩包加密",
       "压缩包中的文件{files}设置了密码，无法检查。",
       "请去掉密码，重新压缩后上传。"),
    _t("PKG_UNSAFE_PATH", P, "不安全的路径",
       "压缩包中的条目“{name}”路径不安全（{reason}），整个压缩包未予处理。",
       "请直接压缩材料文件夹本身，不要包含快捷方式、符号链接或“..”等上级目录路径。"),
    _t("PKG_LIMIT", P, "超出压缩包限制",
       "压缩包超出处理限制：{detail}。",
       "请检查是否误放了多余的大文件或嵌套的压缩包，删除后重新压缩上传。",
       causes=_PKG_LIMIT_CAUSES),
    _t("PKG_NAME_ENCODING", P, "文件名编码无法识别",
       "压缩包中有文件名既不是 UTF-8 也不是 GBK 编码，无法识别（原始字节：{raw}）。",
       "请使用 Windows 自带的压缩功能或 7-Zip、Bandizip 等常用工具重新压缩，文件名使用中文或英文字符。"),
    _t("PKG_DUPLICATE_ENTRY", P, "重复的条目",
       "压缩包中有两个条目指向同一路径：“{name}”与“{other}”（不区分大小写）。",
       "请删除其中一个，或改为不同的名称后重新压缩。"),
    _t("PKG_EMPTY", P, "压缩包为空",
       "压缩包中没有任何材料文件{detail}。",
       "请把完整的材料文件夹压缩后重新上传。"),
    # -- hierarchy and names (spec section 2, 3) ----------------------------------------
    _t("HIER_ROOT", H, "顶层文件夹",
       "压缩包顶层应只有一个“培训机构名称+上报日期”文件夹，实际为：{found}{checked}。",
       "请把全部材料放进一个名为“机构名称+上报日期”（如“{example}”）的文件夹，再压缩该文件夹。"),
    _t("HIER_ROOT_NAME", H, "顶层文件夹名称",
       "顶层文件夹名称“{name}”不符合要求：{reason}。",
       "顶层文件夹应命名为培训方案中的机构名称加上报日期，例如“{example}”。",
       causes={"flat_archive": Cause(
           template="压缩包里没有“机构名称+上报日期”文件夹（压缩的是文件夹里的文件），因此按压缩包的文件名"
                    "“{name}”检查，它不符合要求：{reason}。",
           hint="请在文件夹本身上点右键压缩（不要打开文件夹、全选其中的文件再压缩），使压缩包里最上层是"
                "“{example}”文件夹；也可以直接把压缩包改名为“{example}.zip”。"),
           "loose_files": Cause(
           template="上传的是零散的文件，没有放在“机构名称+上报日期”文件夹里，也没有压缩成 ZIP 压缩包。",
           hint="请把整个上报文件夹“{example}”（里面是各表单、诚信承诺书和各培训文件夹）压缩成一个 ZIP 文件后上传："
                "在文件夹本身上点右键，选择“发送到 → 压缩(zipped)文件夹”；不要打开文件夹、选中里面的文件上传。")}),
    _t("HIER_LEVEL2_UNKNOWN", H, "未列入方案的培训文件夹",
       "文件夹“{name}”不是培训方案中所列的任何培训（职业+等级）。{suggestion}",
       "二级文件夹应命名为“职业（工种）+等级”，与培训方案一致，如“育婴师初级”。",
       causes={"respell": Cause("请把文件夹“{name}”改名为“{spelling}”，与培训方案一致。")}),
    _t("HIER_LEVEL2_MISSING", H, "缺少培训文件夹",
       "培训方案中的培训“{name}”没有对应的文件夹。",
       "请在顶层文件夹中新建名为“{name}”的文件夹，放入该培训的材料。"),
    _t("HIER_SECTION_MISSING", H, "缺少理论/实操文件夹",
       "培训文件夹“{training}”中缺少“{section}”文件夹。",
       "请在“{training}”中新建“{section}”文件夹，放入 {photos} 张照片和 {videos} 段视频。"),
    _t("HIER_UNEXPECTED", H, "多余的文件或文件夹",
       "“{name}”不是材料要求中的文件或文件夹。",
       "请删除该文件，或按材料要求改名后放到正确位置。"),
    _t("NAME_PATTERN", H, "文件名不符合规则",
       "文件名“{name}”不符合命名规则：{reason}。",
       "请按命名规则改名，如“{example}”：照片和视频为“职业+等级+理论或实操+序号”，"
       "平台截图为“线上培训截图+序号”。"),
    _t("NAME_SEQUENCE", H, "序号不连续或重复",
       "“{folder}”中的{kind}序号应为 1 至 {max} 各一次，实际为：{found}。",
       "请按 1 至 {max} 的顺序为{kind}编号，每个序号只用一次。"),
    _t("MEDIA_COUNT", H, "照片/视频数量",
       "“{folder}”中应有{kind} {expected} {unit}，实际为 {found} {unit}{detail}。",
       "请补齐或删减{kind}，使数量恰好为 {expected} {unit}。",
       causes={"missing": Cause("请补上缺少的{kind}，并按上面的文件名命名。"),
               "extra": Cause("请删除多出的{kind}，使数量恰好为 {expected} {unit}。")}),
    # -- media (spec section 3) ----------------------------------------------------------
    _t("IMG_FORMAT", M, "照片格式",
       "照片“{name}”的实际格式为 {detected}，不是 {expected}。",
       "请用相机或手机导出为 {expected} 格式（不要只改扩展名）；苹果手机的 HEIC 照片可在"
       "“设置 → 相机 → 格式”中改为“兼容性最佳”后重拍，或用相册“导出”为 JPG。"),
    _t("IMG_CORRUPT", M, "照片损坏",
       "照片“{name}”已损坏或不完整：{detail}。",
       "请重新导出或拷贝该照片后再压缩上传。"),
    _t("IMG_RESOLUTION", M, "照片分辨率",
       "照片“{name}”分辨率为 {width}×{height}，要求不低于 {min_long}×{min_short}。",
       "请使用相机或手机拍摄的原图，不要压缩、裁剪或截图；照片长边至少 {min_long}、短边至少 {min_short} 像素。"),
    _t("IMG_SIZE", M, "照片大小",
       "照片“{name}”大小为 {size}，超过上限 {limit}。",
       "请在保持分辨率不低于要求的前提下适当压缩照片（如降低 JPEG 质量）。"),
    _t("VID_FORMAT", M, "视频格式",
       "视频“{name}”的实际格式为 {detected}，不是 MP4。",
       "请用手机或格式工厂等工具将视频转换为 MP4（H.264）格式，不要只改扩展名。"),
    _t("VID_CORRUPT", M, "视频损坏",
       "视频“{name}”已损坏或不完整：{detail}。",
       "请重新导出该视频，确认能正常播放后再压缩上传。"),
    _t("VID_RESOLUTION", M, "视频分辨率",
       "视频“{name}”分辨率为 {width}×{height}，要求不低于 {min_long}×{min_short}。",
       "请以不低于 {min_long}×{min_short}（如 720P、1080P）的分辨率录制或导出视频。"),
    _t("VID_DURATION", M, "视频时长",
       "视频“{name}”时长为 {duration}，要求在 {min} 至 {max} 之间。",
       "请剪辑视频，使时长在 {min} 至 {max} 之间。"),
    _t("VID_SIZE", M, "视频大小",
       "视频“{name}”大小为 {size}，超过上限 {limit}。",
       "请降低视频码率后重新导出（720P、2 分钟左右的视频一般在 50MB 以内）。"),
    # -- forms (spec section 4) ----------------------------------------------------------
    _t("FORM_MISSING", F, "缺少表单",
       "缺少表单“{form}”{reason}。",
       "请按模板填写“{form}”并放到“{folder}”中。"),
    _t("FORM_JSON", F, "表单无法读取",
       "表单“{form}”无法读取：{detail}。",
       "表单须为 UTF-8 编码的 JSON 文件：请按提示的行和列改正（引号、逗号、冒号和括号须用英文半角符号），"
       "或用示例包中的模板重新填写；用记事本保存时编码选择“UTF-8”，不要另存为 ANSI/GBK。"),
    _t("FORM_SCHEMA", F, "表单内容不符合格式",
       "表单“{form}”{location}：{detail}。",
       "请对照示例包中的表单模板修改该项：字段名与模板一致，必填项不能为空。",
       causes=_FORM_SCHEMA_CAUSES),
    _t("FORM_ID_NUMBER", F, "身份证号",
       "表单“{form}”{location}的身份证号 {id_number} 有误：{reason}。",
       "请对照身份证核对并改正（18 位，最后一位可为 X；港澳台居民填写居住证号码，外国人填写永久居留身份证号码）。",
       causes={"excel_number": Cause(
           "请先把这一列设为“文本”格式（选中该列，右键 → 设置单元格格式 → 文本），再对照身份证重新输入完整的 "
           "18 位号码；已经变成数字的号码无法恢复，不要在原数字上修改。")}),
    _t("FORM_PHONE", F, "电话号码",
       "表单“{form}”{location}的电话 {phone} 无效：{reason}。",
       "请填写 11 位手机号，或带区号的固定电话（如 010-12345678）。"),
    _t("FORM_DATE", F, "日期",
       "表单“{form}”{location}的日期有误：{reason}。",
       "请核对日期，使其在培训方案的起止日期之内且不晚于上报日期。"),
    _t("FORM_HOURS", F, "学时",
       "表单“{form}”{location}的学时有误：{reason}。",
       "请核对学时，使总学时等于各课次学时之和。"),
    _t("FORM_MISMATCH", F, "表单之间不一致",
       "表单“{form}”{location}与{other}不一致：{reason}。",
       "请使各表单中的机构名称、职业、等级和平台名称保持一致。"),
    _t("FORM_TEACHER", F, "授课教师",
       "表单“{form}”{location}的授课教师 {name}（身份证号 {id_number}）与培训教师名单不符：{reason}。",
       "请在“培训教师.json”中补充该教师，或使大纲中的姓名、身份证号与“培训教师.json”一致。"),
    _t("FORM_TRAINEES", F, "学员",
       "表单“{form}”{location}的学员信息有误：{reason}。",
       "请核对学员名单：人数与培训方案一致，同一次签到中每名学员只出现一次，全部学员完成签到和线上学习。",
       causes=_FORM_TRAINEES_CAUSES),
    _t("FORM_SIGNIN", F, "签到",
       "表单“{form}”中 {date} 有培训课次，但签到表中没有该日期的签到记录。",
       "请补充该日期的签到记录。"),
    _t("FORM_WORKBOOK", F, "工作簿无法读取",
       "工作簿“{name}”无法读取：{detail}。",
       "请用 Excel 或 WPS 打开后“另存为”Excel 工作簿（.xlsx）格式，或用上报模板（表单.xlsx）重新填写。",
       causes={"not_xlsx": Cause("请用 Excel 或 WPS 打开该文件，选择“另存为”，文件类型选“Excel 工作簿（*.xlsx）”，"
                                 "不要设置打开密码，文件名仍为“表单.xlsx”。"),
               "macro": Cause("请“另存为”不含宏的 Excel 工作簿（*.xlsx），不要使用 .xlsm 或启用宏的工作簿。"),
               "external_link": Cause("请删除引用其他文件的公式或链接（数据 → 编辑链接 → 断开链接），"
                                      "把内容直接填写在表中后保存。"),
               "formula": Cause("请在 Excel 或 WPS 中打开并保存一次（让公式算出结果），或把公式改为直接填写的内容。"),
               "limit": Cause("请只在模板的各工作表中填写上报内容，删除多余的工作表、行和图片后保存。")}),
    _t("FORM_DUPLICATE", F, "表单重复",
       "表单“{form}”既有 JSON 文件，又在“{workbook}”中有同名工作表，无法确定以哪一份为准。",
       "请只保留一份：删除“{form}.json”，或删除工作簿中的“{form}”工作表。"),
    _t("W_WORKBOOK_SHEET", W, "多余的工作表",
       "工作簿“{name}”中的工作表“{sheet_name}”不是本层文件夹的表单，已忽略。",
       "本层文件夹的工作簿只需包含这些工作表：{expected}；其他工作表可以删除。", Severity.WARNING),
    # -- warnings -------------------------------------------------------------------------
    _t("W_PLEDGE_SCAN", W, "缺少盖章承诺书扫描件",
       "未找到盖章的诚信承诺书扫描件（诚信承诺书.pdf 或 诚信承诺书.jpg）。",
       "建议将盖章签字后的诚信承诺书扫描为 PDF 或 JPG 一并上传。", Severity.WARNING),
    _t("W_VIDEO_CODEC", W, "视频编码",
       "视频“{name}”的编码为 {codec}，不是推荐的 {preferred}，部分浏览器可能无法播放。",
       "建议导出为 {preferred} 编码的 MP4（手机可在相机设置中选择“兼容性最佳”）。", Severity.WARNING),
    _t("W_HOURS_PLAN", W, "学时与方案不符",
       "培训“{training}”理论与实操大纲总学时之和为 {total}，与培训方案的总学时 {plan} 不一致。",
       "请核对大纲学时与培训方案的总学时。", Severity.WARNING),
    # -- integrity across packages (spec section 10) ------------------------------------
    _t("W_MEDIA_REUSED", W, "照片或视频与其他培训重复",
       "{kind}“{name}”与{other}上报的“{other_file}”完全相同。",
       "每次培训须上传本次培训现场拍摄的照片和视频，不能使用其他培训的材料。如确属误用，请换成本次培训的"
       "照片或视频后重新上传；如确为同一次培训，请与管理员联系说明。",
       Severity.WARNING,
       causes={"similar": Cause(
           "每次培训须上传本次培训现场拍摄的照片，不能把其他培训的照片另存、压缩或裁剪后使用。如确属误用，"
           "请换成本次培训的照片后重新上传；如确为同一次培训，请与管理员联系说明。",
           "{kind}“{name}”与{other}上报的“{other_file}”画面几乎相同。")}),
    _t("W_TRAINEE_OVERLAP", W, "学员同时参加其他培训",
       "学员{person}于 {dates} 在本次“{training}”培训签到，同一天也在{other}签到。",
       "同一名学员不能在同一天参加两个培训。请核对该学员的签到记录和身份证号；如填写有误，请改正后重新上传。",
       Severity.WARNING,
       causes={"same_training": Cause(
           "同一名学员不能同时参加两期同职业同等级的培训。请核对该学员的身份证号和培训名单；如填写有误，"
           "请改正后重新上传。",
           "学员{person}参加本次“{training}”培训（{period}），同期（{other_period}）也在{other}"
           "参加同一职业同一等级的培训。")}),
    _t("W_TEACHER_OVERLAP", W, "教师授课时间冲突",
       "教师{person}在 {date} 各培训合计授课 {total} 学时，超过每日上限 {max} 学时：{parts}。",
       "请核对该教师在这一天的授课安排和大纲中的日期、学时；如填写有误，请改正后重新上传。",
       Severity.WARNING,
       causes={"institutions": Cause(
           "同一名教师同一天不能在两个机构授课。请核对该教师的授课安排和大纲中的日期；如填写有误，请改正后重新上传。",
           "教师{person}在 {date} 同时在两个机构授课：{parts}。")}),
    # -- our own failure ------------------------------------------------------------------
    _t("INTERNAL", Family.INTERNAL, "系统内部错误",
       "系统处理该压缩包时发生内部错误，材料已妥善保存，工作人员会尽快处理。",
       "无需重新上传；如有疑问请联系管理员并提供回执编号。"),
)

CATALOGUE: dict[str, ProblemType] = {t.code: t for t in _TYPES}


class _Lenient(string.Formatter):
    """Formats a template; a missing field shows as an empty string instead of raising.

    A check that forgets a value must still produce a readable message, never crash the
    run that reports every other error.
    """

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str):
            return kwargs.get(key, "")
        return super().get_value(key, args, kwargs)


_FORMATTER = _Lenient()


def problem(code: str, path: str = "", *, pointer: str | None = None,
            severity: Severity | None = None, sheet: str | None = None, cell: str | None = None,
            **params: Any) -> Problem:
    """Build the Problem for ``code``; ``params`` fill the message and hint templates.

    ``severity`` overrides the catalogue default (the policy may demote or promote rules).
    ``sheet`` and ``cell``: the value's place in a workbook (spec section 9); the message
    then ends by naming them, as a clerk finds them in Excel (位置：“签到表”工作表 D7 单元格).
    """
    kind = CATALOGUE[code]
    template, hint = kind.wording(params)
    # Parameters named like a personal field (id_number, phone, contact_phone) are masked
    # by their meaning first, whatever they hold: an invalid 身份证号 is still a person's.
    shown = {key: mask_field(key, value) for key, value in params.items()}
    # Then every text that leaves passes the recogniser of personal numbers: whatever a
    # check quotes from a package (a name, a folder, a field value) may hold one. So may
    # the path (file names are the institution's, folder paths are built from plan
    # values) and the pointer (an unknown key is quoted as written). The parameters are
    # kept masked the same way. A number found in one parameter is masked wherever it
    # occurs, glued to other digits too: a check may compose a parameter from others (the
    # plan's institution + the date as the example of a folder name).
    known = numbers_in(shown)

    def masked(text: str) -> str:
        return mask_known(redact(text), known)

    message = _FORMATTER.format(template, **shown)
    if sheet is not None and cell is not None:
        message += f"位置：“{sheet}”工作表 {cell} 单元格。"
    return Problem(
        code=code,
        severity=severity or kind.severity,
        path=masked(path),
        pointer=masked(pointer) if pointer else pointer,
        sheet=masked(sheet) if sheet else sheet,
        cell=cell,
        message=masked(message),
        hint=masked(_FORMATTER.format(hint, **shown)) or None,
        params=MappingProxyType(mask_known(redact_value(shown), known)),
    )


def format_size(n: int) -> str:
    """Human size the way institutions read it (MB with two decimals, binary units)."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.2f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} 字节"
