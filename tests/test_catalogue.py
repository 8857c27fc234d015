"""One rendering per problem code: the Chinese message and hint a clerk reads, from the
catalogue's templates and a problem's parameters. Every other test asserts on codes and
parameters; this file is where the wording itself is pinned down (a change of wording
must change this table)."""

from __future__ import annotations

import re
import string

import pytest

from pipeline.check.catalogue import CATALOGUE, problem

# code -> (parameters, message, hint)
RENDERED = {
    'PKG_NOT_ZIP': ({'detected': 'RAR 压缩包'},
        '上传的文件不是 ZIP 压缩包（识别为：RAR 压缩包）。',
        '请用 ZIP 格式重新压缩后上传：在 Windows 中右键文件夹，选择“发送到 → 压缩(zipped)文件夹”；不要使用 RAR、7z 等格式。'),
    'PKG_CORRUPT': ({'detail': '第 3 个文件“a.jpg”的校验值（CRC）不符'},
        '压缩包已损坏或不完整：第 3 个文件“a.jpg”的校验值（CRC）不符。',
        '请重新压缩并完整上传；若通过 SFTP 上传，请确认上传完成后再断开连接。'),
    'PKG_ENCRYPTED': ({'files': '“星火20261120/培训方案.json”、“星火20261120/培训教师.json”、“星火20261120/a.jpg”等 12 个文件'},
        '压缩包中的文件“星火20261120/培训方案.json”、“星火20261120/培训教师.json”、“星火20261120/a.jpg”等 12 个文件设置了密码，无法检查。',
        '请去掉密码，重新压缩后上传。'),
    'PKG_UNSAFE_PATH': ({'name': '../etc/passwd', 'reason': '包含“..”上级目录'},
        '压缩包中的条目“../etc/passwd”路径不安全（包含“..”上级目录），整个压缩包未予处理。',
        '请直接压缩材料文件夹本身，不要包含快捷方式、符号链接或“..”等上级目录路径。'),
    'PKG_LIMIT': ({'detail': '条目数 2001 超过上限 2000'},
        '压缩包超出处理限制：条目数 2001 超过上限 2000。',
        '请检查是否误放了多余的大文件或嵌套的压缩包，删除后重新压缩上传。'),
    'PKG_NAME_ENCODING': ({'raw': '\\xff\\xfe'},
        '压缩包中有文件名既不是 UTF-8 也不是 GBK 编码，无法识别（原始字节：\\xff\\xfe）。',
        '请使用 Windows 自带的压缩功能或 7-Zip、Bandizip 等常用工具重新压缩，文件名使用中文或英文字符。'),
    'PKG_DUPLICATE_ENTRY': ({'name': '星火/A.jpg', 'other': '星火/a.JPG'},
        '压缩包中有两个条目指向同一路径：“星火/A.jpg”与“星火/a.JPG”（不区分大小写）。',
        '请删除其中一个，或改为不同的名称后重新压缩。'),
    'PKG_EMPTY': ({'detail': '（只有系统文件）'},
        '压缩包中没有任何材料文件（只有系统文件）。',
        '请把完整的材料文件夹压缩后重新上传。'),
    'HIER_ROOT': ({'found': '“a/”、“b/”', 'checked': '；以下按其中的“b/”检查', 'example': '新城区星火职业培训学校20261120'},
        '压缩包顶层应只有一个“培训机构名称+上报日期”文件夹，实际为：“a/”、“b/”；以下按其中的“b/”检查。',
        '请把全部材料放进一个名为“机构名称+上报日期”（如“新城区星火职业培训学校20261120”）的文件夹，再压缩该文件夹。'),
    'HIER_ROOT_NAME': ({'name': '星火', 'reason': '缺少上报日期', 'example': '新城区星火职业培训学校20261120'},
        '顶层文件夹名称“星火”不符合要求：缺少上报日期。',
        '顶层文件夹应命名为培训方案中的机构名称加上报日期，例如“新城区星火职业培训学校20261120”。'),
    'HIER_LEVEL2_UNKNOWN': ({'name': '新建文件夹', 'suggestion': ''},
        '文件夹“新建文件夹”不是培训方案中所列的任何培训（职业+等级）。',
        '二级文件夹应命名为“职业（工种）+等级”，与培训方案一致，如“育婴师初级”。'),
    'HIER_LEVEL2_MISSING': ({'name': '育婴师初级'},
        '培训方案中的培训“育婴师初级”没有对应的文件夹。',
        '请在顶层文件夹中新建名为“育婴师初级”的文件夹，放入该培训的材料。'),
    'HIER_SECTION_MISSING': ({'training': '育婴师初级', 'section': '实操', 'photos': 5, 'videos': 3},
        '培训文件夹“育婴师初级”中缺少“实操”文件夹。',
        '请在“育婴师初级”中新建“实操”文件夹，放入 5 张照片和 3 段视频。'),
    'HIER_UNEXPECTED': ({'name': '育婴师初级/说明.docx'},
        '“育婴师初级/说明.docx”不是材料要求中的文件或文件夹。',
        '请删除该文件，或按材料要求改名后放到正确位置。'),
    'NAME_PATTERN': ({'name': '育婴师初级理论01.jpg', 'reason': '序号“01”不应以 0 开头', 'example': '育婴师初级理论1.jpg'},
        '文件名“育婴师初级理论01.jpg”不符合命名规则：序号“01”不应以 0 开头。',
        '请按命名规则改名，如“育婴师初级理论1.jpg”：照片和视频为“职业+等级+理论或实操+序号”，平台截图为“线上培训截图+序号”。'),
    'NAME_SEQUENCE': ({'folder': '育婴师初级/理论', 'kind': '照片', 'max': 5, 'found': '1、2、4、5（缺少序号 3）'},
        '“育婴师初级/理论”中的照片序号应为 1 至 5 各一次，实际为：1、2、4、5（缺少序号 3）。',
        '请按 1 至 5 的顺序为照片编号，每个序号只用一次。'),
    'MEDIA_COUNT': ({'folder': '育婴师初级/理论', 'kind': '照片', 'expected': 5, 'unit': '张', 'found': 4, 'detail': ''},
        '“育婴师初级/理论”中应有照片 5 张，实际为 4 张。',
        '请补齐或删减照片，使数量恰好为 5 张。'),
    'IMG_FORMAT': ({'name': '育婴师初级理论1.jpg', 'detected': 'HEIC（苹果手机高效格式）', 'expected': 'JPEG'},
        '照片“育婴师初级理论1.jpg”的实际格式为 HEIC（苹果手机高效格式），不是 JPEG。',
        '请用相机或手机导出为 JPEG 格式（不要只改扩展名）；苹果手机的 HEIC 照片可在“设置 → 相机 → 格式”中改为“兼容性最佳”后重拍，或用相册“导出”为 JPG。'),
    'IMG_CORRUPT': ({'name': '育婴师初级理论1.jpg', 'detail': '文件末尾缺失'},
        '照片“育婴师初级理论1.jpg”已损坏或不完整：文件末尾缺失。',
        '请重新导出或拷贝该照片后再压缩上传。'),
    'IMG_RESOLUTION': ({'name': '育婴师初级理论1.jpg', 'width': 1024, 'height': 576, 'min_long': 1280, 'min_short': 720},
        '照片“育婴师初级理论1.jpg”分辨率为 1024×576，要求不低于 1280×720。',
        '请使用相机或手机拍摄的原图，不要压缩、裁剪或截图；照片长边至少 1280、短边至少 720 像素。'),
    'IMG_SIZE': ({'name': '育婴师初级理论1.jpg', 'size': '2.50 MB', 'limit': '2.00 MB'},
        '照片“育婴师初级理论1.jpg”大小为 2.50 MB，超过上限 2.00 MB。',
        '请在保持分辨率不低于要求的前提下适当压缩照片（如降低 JPEG 质量）。'),
    'VID_FORMAT': ({'name': '育婴师初级理论1.mp4', 'detected': 'QuickTime（MOV）'},
        '视频“育婴师初级理论1.mp4”的实际格式为 QuickTime（MOV），不是 MP4。',
        '请用手机或格式工厂等工具将视频转换为 MP4（H.264）格式，不要只改扩展名。'),
    'VID_CORRUPT': ({'name': '育婴师初级理论1.mp4', 'detail': '缺少索引信息（moov）'},
        '视频“育婴师初级理论1.mp4”已损坏或不完整：缺少索引信息（moov）。',
        '请重新导出该视频，确认能正常播放后再压缩上传。'),
    'VID_RESOLUTION': ({'name': '育婴师初级理论1.mp4', 'width': 640, 'height': 360, 'min_long': 1280, 'min_short': 720},
        '视频“育婴师初级理论1.mp4”分辨率为 640×360，要求不低于 1280×720。',
        '请以不低于 1280×720（如 720P、1080P）的分辨率录制或导出视频。'),
    'VID_DURATION': ({'name': '育婴师初级理论1.mp4', 'duration': '1分30秒（90.0 秒）', 'min': '2分钟', 'max': '3分钟'},
        '视频“育婴师初级理论1.mp4”时长为 1分30秒（90.0 秒），要求在 2分钟 至 3分钟 之间。',
        '请剪辑视频，使时长在 2分钟 至 3分钟 之间。'),
    'VID_SIZE': ({'name': '育婴师初级理论1.mp4', 'size': '60.00 MB', 'limit': '50.00 MB'},
        '视频“育婴师初级理论1.mp4”大小为 60.00 MB，超过上限 50.00 MB。',
        '请降低视频码率后重新导出（720P、2 分钟左右的视频一般在 50MB 以内）。'),
    'FORM_MISSING': ({'form': '签到表.json', 'reason': '（培训方案含线下培训，每次培训课均需学员签到）', 'folder': '育婴师初级'},
        '缺少表单“签到表.json”（培训方案含线下培训，每次培训课均需学员签到）。',
        '请按模板填写“签到表.json”并放到“育婴师初级”中。'),
    'FORM_JSON': ({'form': '培训方案.json', 'detail': 'JSON 格式错误（第 3 行第 5 列）'},
        '表单“培训方案.json”无法读取：JSON 格式错误（第 3 行第 5 列）。',
        '表单须为 UTF-8 编码的 JSON 文件：请按提示的行和列改正（引号、逗号、冒号和括号须用英文半角符号），或用示例包中的模板重新填写；用记事本保存时编码选择“UTF-8”，不要另存为 ANSI/GBK。'),
    'FORM_SCHEMA': ({'form': '培训方案.json', 'location': '', 'detail': '第 1 项培训的“培训人数”应为整数'},
        '表单“培训方案.json”：第 1 项培训的“培训人数”应为整数。',
        '请对照示例包中的表单模板修改该项：字段名与模板一致，必填项不能为空。'),
    'FORM_ID_NUMBER': ({'form': '签到表.json', 'location': '第 1 次签到第 2 名学员（张三）', 'id_number': '110101********1234', 'reason': '校验码不符'},
        '表单“签到表.json”第 1 次签到第 2 名学员（张三）的身份证号 110101********1234 有误：校验码不符。',
        '请对照身份证核对并改正（18 位，最后一位可为 X；港澳台居民填写居住证号码，外国人填写永久居留身份证号码）。'),
    'FORM_PHONE': ({'form': '培训方案.json', 'location': '“联系电话”', 'phone': '138****5678', 'reason': '手机号应为 11 位'},
        '表单“培训方案.json”“联系电话”的电话 138****5678 无效：手机号应为 11 位。',
        '请填写 11 位手机号，或带区号的固定电话（如 010-12345678）。'),
    'FORM_DATE': ({'form': '理论培训大纲.json', 'location': '第 2 次课', 'reason': '2026-12-01 不在培训方案的培训期间（2026-10-01 至 2026-11-01）内'},
        '表单“理论培训大纲.json”第 2 次课的日期有误：2026-12-01 不在培训方案的培训期间（2026-10-01 至 2026-11-01）内。',
        '请核对日期，使其在培训方案的起止日期之内且不晚于上报日期。'),
    'FORM_HOURS': ({'form': '理论培训大纲.json', 'location': '“总学时”', 'reason': '总学时为 40，各课次学时之和为 38'},
        '表单“理论培训大纲.json”“总学时”的学时有误：总学时为 40，各课次学时之和为 38。',
        '请核对学时，使总学时等于各课次学时之和。'),
    'FORM_MISMATCH': ({'form': '诚信承诺书.json', 'location': '“机构名称”', 'other': '培训方案.json', 'reason': '“星火学校”与“星火职业学校”不同'},
        '表单“诚信承诺书.json”“机构名称”与培训方案.json不一致：“星火学校”与“星火职业学校”不同。',
        '请使各表单中的机构名称、职业、等级和平台名称保持一致。'),
    'FORM_TEACHER': ({'form': '理论培训大纲.json', 'location': '第 1 次课', 'name': '李四', 'id_number': '610102********5678', 'reason': '培训教师.json 中没有该身份证号'},
        '表单“理论培训大纲.json”第 1 次课的授课教师 李四（身份证号 610102********5678）与培训教师名单不符：培训教师.json 中没有该身份证号。',
        '请在“培训教师.json”中补充该教师，或使大纲中的姓名、身份证号与“培训教师.json”一致。'),
    'FORM_TRAINEES': ({'form': '签到表.json', 'location': '第 1 次签到', 'reason': '学员人数为 19，培训方案为 20'},
        '表单“签到表.json”第 1 次签到的学员信息有误：学员人数为 19，培训方案为 20。',
        '请核对学员名单：人数与培训方案一致，同一次签到中每名学员只出现一次，全部学员完成签到和线上学习。'),
    'FORM_SIGNIN': ({'form': '理论培训大纲.json', 'date': '2026-10-05'},
        '表单“理论培训大纲.json”中 2026-10-05 有培训课次，但签到表中没有该日期的签到记录。',
        '请补充该日期的签到记录。'),
    'W_PLEDGE_SCAN': ({},
        '未找到盖章的诚信承诺书扫描件（诚信承诺书.pdf 或 诚信承诺书.jpg）。',
        '建议将盖章签字后的诚信承诺书扫描为 PDF 或 JPG 一并上传。'),
    'W_VIDEO_CODEC': ({'name': '育婴师初级理论1.mp4', 'codec': 'H.265（HEVC）', 'preferred': 'H.264（AVC）'},
        '视频“育婴师初级理论1.mp4”的编码为 H.265（HEVC），不是推荐的 H.264（AVC），部分浏览器可能无法播放。',
        '建议导出为 H.264（AVC） 编码的 MP4（手机可在相机设置中选择“兼容性最佳”）。'),
    'W_HOURS_PLAN': ({'training': '育婴师初级', 'total': 78, 'plan': 80},
        '培训“育婴师初级”理论与实操大纲总学时之和为 78，与培训方案的总学时 80 不一致。',
        '请核对大纲学时与培训方案的总学时。'),
    'INTERNAL': ({},
        '系统处理该压缩包时发生内部错误，材料已妥善保存，工作人员会尽快处理。',
        '无需重新上传；如有疑问请联系管理员并提供回执编号。'),
    'FORM_WORKBOOK': ({'name': '表单.xlsx', 'detail': '工作簿中含有宏'},
        '工作簿“表单.xlsx”无法读取：工作簿中含有宏。',
        '请用 Excel 或 WPS 打开后“另存为”Excel 工作簿（.xlsx）格式，或用上报模板（表单.xlsx）重新填写。'),
    'FORM_DUPLICATE': ({'form': '签到表', 'workbook': '表单.xlsx'},
        '表单“签到表”既有 JSON 文件，又在“表单.xlsx”中有同名工作表，无法确定以哪一份为准。',
        '请只保留一份：删除“签到表.json”，或删除工作簿中的“签到表”工作表。'),
    'W_WORKBOOK_SHEET': ({'name': '表单.xlsx', 'sheet_name': 'Sheet1', 'expected': '理论培训大纲、实操培训大纲、签到表、线上培训记录、实操设备设施'},
        '工作簿“表单.xlsx”中的工作表“Sheet1”不是本层文件夹的表单，已忽略。',
        '本层文件夹的工作簿只需包含这些工作表：理论培训大纲、实操培训大纲、签到表、线上培训记录、实操设备设施；其他工作表可以删除。'),
    'W_MEDIA_REUSED': ({'kind': '照片', 'name': '育婴师初级理论1.jpg', 'other': '东风职业培训学校“育婴师初级”培训（回执编号 R20261120-ABCD2345）', 'other_file': '育婴师初级理论3.jpg', 'other_path': '东风职业培训学校20261118/育婴师初级/理论/育婴师初级理论3.jpg', 'other_receipt': 'R20261120-ABCD2345', 'distance': 0, 'fault': 'identical'},
        '照片“育婴师初级理论1.jpg”与东风职业培训学校“育婴师初级”培训（回执编号 R20261120-ABCD2345）上报的“育婴师初级理论3.jpg”完全相同。',
        '每次培训须上传本次培训现场拍摄的照片和视频，不能使用其他培训的材料。如确属误用，请换成本次培训的照片或视频后重新上传；如确为同一次培训，请与管理员联系说明。'),
    'W_TRAINEE_OVERLAP': ({'person': '李四（110101********1234）', 'training': '育婴师初级', 'dates': '2026-11-03、2026-11-04', 'other': '东风职业培训学校“电工初级”培训（回执编号 R20261120-ABCD2345）', 'other_receipt': 'R20261120-ABCD2345', 'fault': 'same_day'},
        '学员李四（110101********1234）于 2026-11-03、2026-11-04 在本次“育婴师初级”培训签到，同一天也在东风职业培训学校“电工初级”培训（回执编号 R20261120-ABCD2345）签到。',
        '同一名学员不能在同一天参加两个培训。请核对该学员的签到记录和身份证号；如填写有误，请改正后重新上传。'),
    'W_TEACHER_OVERLAP': ({'person': '王老师（110101********5678）', 'date': '2026-11-03', 'total': '12', 'max': '8', 'parts': '本次“育婴师初级” 6 学时；东风职业培训学校“电工初级”培训（回执编号 R20261120-ABCD2345） 6 学时', 'other_receipt': 'R20261120-ABCD2345', 'fault': 'hours'},
        '教师王老师（110101********5678）在 2026-11-03 各培训合计授课 12 学时，超过每日上限 8 学时：本次“育婴师初级” 6 学时；东风职业培训学校“电工初级”培训（回执编号 R20261120-ABCD2345） 6 学时。',
        '请核对该教师在这一天的授课安排和大纲中的日期、学时；如填写有误，请改正后重新上传。'),
}


# (code, cause) -> (parameters, message, hint): the wording of the causes that have their
# own (catalogue ``causes``, selected by the parameter ``fault``)
_REPACK = ("在 Windows 中右键材料文件夹，选择“发送到 → 压缩(zipped)文件夹”；或用 7-Zip、Bandizip 等工具"
           "选择“ZIP”格式、“Deflate”（标准）压缩方法")
_SIZES = "请检查是否误放了多余的大文件（如未剪辑的原始视频），删除后重新压缩上传；照片和视频请按要求控制大小。"
RENDERED_CAUSES = {
    ('HIER_ROOT_NAME', 'flat_archive'): ({'name': '新城区星火职业培训学校', 'reason': '名称末尾没有上报日期',
                                          'example': '新城区星火职业培训学校20261120', 'fault': 'flat_archive'},
        '压缩包里没有“机构名称+上报日期”文件夹（压缩的是文件夹里的文件），因此按压缩包的文件名“新城区星火职业培训学校”检查，'
        '它不符合要求：名称末尾没有上报日期。',
        '请在文件夹本身上点右键压缩（不要打开文件夹、全选其中的文件再压缩），使压缩包里最上层是“新城区星火职业培训学校20261120”'
        '文件夹；也可以直接把压缩包改名为“新城区星火职业培训学校20261120.zip”。'),
    ('HIER_ROOT_NAME', 'loose_files'): ({'name': 'xinghuo散装文件20261207-085922', 'reason': '名称末尾没有上报日期',
                                         'example': '新城区星火职业培训学校20261120', 'fault': 'loose_files'},
        '上传的是零散的文件，没有放在“机构名称+上报日期”文件夹里，也没有压缩成 ZIP 压缩包。',
        '请把整个上报文件夹“新城区星火职业培训学校20261120”（里面是各表单、诚信承诺书和各培训文件夹）压缩成一个 ZIP 文件后上传：'
        '在文件夹本身上点右键，选择“发送到 → 压缩(zipped)文件夹”；不要打开文件夹、选中里面的文件上传。'),
    ('PKG_NOT_ZIP', 'split_volume'): ({'detected': '共 3 卷中的最后一卷', 'fault': 'split_volume'},
        '上传的文件是分卷压缩包中的一卷（共 3 卷中的最后一卷），不是完整的 ZIP 压缩包，无法单独打开。',
        '请不要分卷压缩：把材料文件夹重新压缩为一个完整的 ZIP 文件（' + _REPACK + '，不要设置“分卷大小”），然后只上传这一个文件。'),
    ('PKG_LIMIT', 'entries'): ({'detail': '共有 2001 个条目，超过上限 2000 个', 'fault': 'entries'},
        '压缩包超出处理限制：共有 2001 个条目，超过上限 2000 个。',
        '请只压缩材料文件夹本身，删除与上报无关的文件后重新压缩上传。'),
    ('PKG_LIMIT', 'directory_bytes'): ({'detail': '压缩包目录过大（9.00 MB）', 'fault': 'directory_bytes'},
        '压缩包超出处理限制：压缩包目录过大（9.00 MB）。',
        '请只压缩材料文件夹本身，删除与上报无关的文件后重新压缩上传。'),
    ('PKG_LIMIT', 'entry_size'): ({'detail': '文件“a.mp4”解压后大小 600.00 MB，超过单个文件上限 512.00 MB', 'fault': 'entry_size'},
        '压缩包超出处理限制：文件“a.mp4”解压后大小 600.00 MB，超过单个文件上限 512.00 MB。', _SIZES),
    ('PKG_LIMIT', 'total_size'): ({'detail': '解压后总大小 3.00 GB，超过上限 2.00 GB', 'fault': 'total_size'},
        '压缩包超出处理限制：解压后总大小 3.00 GB，超过上限 2.00 GB。', _SIZES),
    ('PKG_LIMIT', 'ratio'): ({'detail': '文件“a.txt”压缩比 1000:1，超过上限 100:1（疑似压缩炸弹）', 'fault': 'ratio'},
        '压缩包超出处理限制：文件“a.txt”压缩比 1000:1，超过上限 100:1（疑似压缩炸弹）。',
        '该文件压缩前后的大小相差异常。请确认放入的是正常的材料文件，然后重新压缩：' + _REPACK + '。'),
    ('PKG_LIMIT', 'beyond_declared_size'): ({'detail': '文件“a.txt”解压后的实际大小超过了声明的大小', 'fault': 'beyond_declared_size'},
        '压缩包超出处理限制：文件“a.txt”解压后的实际大小超过了声明的大小。',
        '压缩包记录的文件大小与实际内容不符。请重新压缩：' + _REPACK + '。'),
    ('PKG_LIMIT', 'method'): ({'detail': '文件“a.jpg”使用了不支持的压缩方式（LZMA，编号 14）', 'fault': 'method'},
        '压缩包超出处理限制：文件“a.jpg”使用了不支持的压缩方式（LZMA，编号 14）。',
        '请用标准的 ZIP 压缩方法重新压缩：' + _REPACK + '；不要选择 BZip2、LZMA、PPMd、Deflate64 等压缩方法。'),
    ('PKG_LIMIT', 'zip_feature'): ({'detail': '文件“a.jpg”使用了不支持的 ZIP 扩展格式（需要 ZIP 6.4 版）', 'fault': 'zip_feature'},
        '压缩包超出处理限制：文件“a.jpg”使用了不支持的 ZIP 扩展格式（需要 ZIP 6.4 版）。',
        '请用标准的 ZIP 格式重新压缩：' + _REPACK + '。'),
    ('PKG_LIMIT', 'nested_archive'): ({'detail': '包含嵌套的压缩包“星火/照片.zip”', 'fault': 'nested_archive'},
        '压缩包超出处理限制：包含嵌套的压缩包“星火/照片.zip”。',
        '请先把嵌套的压缩包解压，将其中的材料文件直接放入相应的文件夹，删除该压缩包后重新压缩上传。'),
    ('HIER_LEVEL2_UNKNOWN', 'respell'): ({'name': '育婴员初级', 'suggestion': '应写作“育婴师初级”。', 'spelling': '育婴师初级', 'fault': 'respell'},
        '文件夹“育婴员初级”不是培训方案中所列的任何培训（职业+等级）。应写作“育婴师初级”。',
        '请把文件夹“育婴员初级”改名为“育婴师初级”，与培训方案一致。'),
    ('MEDIA_COUNT', 'missing'): ({'folder': '育婴师初级/理论', 'kind': '照片', 'expected': 5, 'unit': '张', 'found': 4, 'detail': '，缺少“育婴师初级理论5.jpg”', 'fault': 'missing'},
        '“育婴师初级/理论”中应有照片 5 张，实际为 4 张，缺少“育婴师初级理论5.jpg”。',
        '请补上缺少的照片，并按上面的文件名命名。'),
    ('MEDIA_COUNT', 'extra'): ({'folder': '育婴师初级/理论', 'kind': '照片', 'expected': 5, 'unit': '张', 'found': 6, 'detail': '，多出“育婴师初级理论6.jpg”', 'fault': 'extra'},
        '“育婴师初级/理论”中应有照片 5 张，实际为 6 张，多出“育婴师初级理论6.jpg”。',
        '请删除多出的照片，使数量恰好为 5 张。'),
    ('FORM_SCHEMA', 'required'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'required'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请补填该项：字段名须与示例包中的表单模板完全一致（英文字段名、英文双引号），值不能为空。'),
    ('FORM_SCHEMA', 'additionalProperties'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'additionalProperties'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请删除该字段，或改成示例包中表单模板里的字段名（字段名须一字不差）。'),
    ('FORM_SCHEMA', 'enum'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'enum'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请从上面列出的可选值中选一个，照原样填写。'),
    ('FORM_SCHEMA', 'const'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'const'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请照上面的要求原样填写该项。'),
    ('FORM_SCHEMA', 'type'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'type'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '文本须用英文双引号括起来（如 "张三"）；数字、true、false 不加引号（如 20、true）。'),
    ('FORM_SCHEMA', 'minimum'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'minimum'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的要求改正该项的值。'),
    ('FORM_SCHEMA', 'maximum'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'maximum'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的要求改正该项的值。'),
    ('FORM_SCHEMA', 'exclusiveMinimum'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'exclusiveMinimum'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的要求改正该项的值。'),
    ('FORM_SCHEMA', 'exclusiveMaximum'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'exclusiveMaximum'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的要求改正该项的值。'),
    ('FORM_SCHEMA', 'multipleOf'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'multipleOf'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的要求改正该项的值。'),
    ('FORM_SCHEMA', 'nonfinite'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'nonfinite'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的要求改正该项的值。'),
    ('FORM_SCHEMA', 'pattern'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'pattern'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的格式要求改正该项（日期写作 2026-10-24 这样的格式）。'),
    ('FORM_SCHEMA', 'format'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'format'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请按上面的格式要求改正该项（日期写作 2026-10-24 这样的格式）。'),
    ('FORM_SCHEMA', 'minLength'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'minLength'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '该项不能为空，请补填。'),
    ('FORM_SCHEMA', 'maxLength'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'maxLength'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请缩短该项内容。'),
    ('FORM_SCHEMA', 'minItems'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'minItems'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请至少填写一项。'),
    ('FORM_SCHEMA', 'maxItems'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'maxItems'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请删去多余的项。'),
    ('FORM_SCHEMA', 'uniqueItems'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'uniqueItems'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请删去重复的项。'),
    ('FORM_SCHEMA', 'form_kind'): ({'form': '签到表.json', 'location': '', 'detail': '第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"', 'fault': 'form_kind'},
        '表单“签到表.json”：第 1 次签到第 3 名学员的“签到”应为 true（是）或 false（否），实际为 "是"。',
        '请确认文件内容与文件名一致。'),
    ('FORM_TRAINEES', 'not_signed'): ({'form': '签到表.json', 'location': '第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）', 'reason': '“签到”填的是 false，即未签到', 'fault': 'not_signed'},
        '表单“签到表.json”第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）的学员信息有误：“签到”填的是 false，即未签到。',
        '每名学员每次课都须签到。如该学员确已到课，请补签后把“签到”改为 true；如未到课，请与管理员联系，不要替学员签到。'),
    ('FORM_TRAINEES', 'repeated'): ({'form': '签到表.json', 'location': '第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）', 'reason': '“签到”填的是 false，即未签到', 'fault': 'repeated'},
        '表单“签到表.json”第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）的学员信息有误：“签到”填的是 false，即未签到。',
        '同一次签到中每名学员只能出现一次：请删除重复的一行，或核对其中一人的身份证号。'),
    ('FORM_TRAINEES', 'count'): ({'form': '签到表.json', 'location': '第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）', 'reason': '“签到”填的是 false，即未签到', 'fault': 'count'},
        '表单“签到表.json”第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）的学员信息有误：“签到”填的是 false，即未签到。',
        '请核对学员名单，使其人数与培训方案中的培训人数一致；如培训人数填错，请改正培训方案。'),
    ('FORM_TRAINEES', 'online_incomplete'): ({'form': '签到表.json', 'location': '第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）', 'reason': '“签到”填的是 false，即未签到', 'fault': 'online_incomplete'},
        '表单“签到表.json”第 2 次签到（2026-10-26）第 3 名学员（龙桂兰，610116********3382）的学员信息有误：“签到”填的是 false，即未签到。',
        '线上培训须全部学员完成（完成率 100%）并在平台签到：请在学员完成后重新导出线上培训记录。'),
    ('FORM_WORKBOOK', 'not_xlsx'): ({'name': '表单.xlsx', 'detail': '它不是 .xlsx 格式的工作簿', 'fault': 'not_xlsx'},
        '工作簿“表单.xlsx”无法读取：它不是 .xlsx 格式的工作簿。',
        '请用 Excel 或 WPS 打开该文件，选择“另存为”，文件类型选“Excel 工作簿（*.xlsx）”，不要设置打开密码，文件名仍为“表单.xlsx”。'),
    ('FORM_WORKBOOK', 'macro'): ({'name': '表单.xlsx', 'detail': '它不是 .xlsx 格式的工作簿', 'fault': 'macro'},
        '工作簿“表单.xlsx”无法读取：它不是 .xlsx 格式的工作簿。',
        '请“另存为”不含宏的 Excel 工作簿（*.xlsx），不要使用 .xlsm 或启用宏的工作簿。'),
    ('FORM_WORKBOOK', 'external_link'): ({'name': '表单.xlsx', 'detail': '它不是 .xlsx 格式的工作簿', 'fault': 'external_link'},
        '工作簿“表单.xlsx”无法读取：它不是 .xlsx 格式的工作簿。',
        '请删除引用其他文件的公式或链接（数据 → 编辑链接 → 断开链接），把内容直接填写在表中后保存。'),
    ('FORM_WORKBOOK', 'formula'): ({'name': '表单.xlsx', 'detail': '它不是 .xlsx 格式的工作簿', 'fault': 'formula'},
        '工作簿“表单.xlsx”无法读取：它不是 .xlsx 格式的工作簿。',
        '请在 Excel 或 WPS 中打开并保存一次（让公式算出结果），或把公式改为直接填写的内容。'),
    ('FORM_WORKBOOK', 'limit'): ({'name': '表单.xlsx', 'detail': '它不是 .xlsx 格式的工作簿', 'fault': 'limit'},
        '工作簿“表单.xlsx”无法读取：它不是 .xlsx 格式的工作簿。',
        '请只在模板的各工作表中填写上报内容，删除多余的工作表、行和图片后保存。'),
    ('FORM_ID_NUMBER', 'excel_number'): ({'form': '签到表', 'location': '第 7 行“身份证号”（D7）', 'id_number': '6.10116E+17', 'reason': '在 Excel 中被存成了数字，最后几位已经丢失，无法还原', 'fault': 'excel_number'},
        '表单“签到表”第 7 行“身份证号”（D7）的身份证号 6.1011*E+17 有误：在 Excel 中被存成了数字，最后几位已经丢失，无法还原。',
        '请先把这一列设为“文本”格式（选中该列，右键 → 设置单元格格式 → 文本），再对照身份证重新输入完整的 18 位号码；已经变成数字的号码无法恢复，不要在原数字上修改。'),
    ('W_MEDIA_REUSED', 'similar'): ({'kind': '照片', 'name': '育婴师初级理论1.jpg', 'other': '东风职业培训学校“育婴师初级”培训（回执编号 R20261120-ABCD2345）', 'other_file': '育婴师初级理论3.jpg', 'other_path': '东风职业培训学校20261118/育婴师初级/理论/育婴师初级理论3.jpg', 'other_receipt': 'R20261120-ABCD2345', 'distance': 2, 'fault': 'similar'},
        '照片“育婴师初级理论1.jpg”与东风职业培训学校“育婴师初级”培训（回执编号 R20261120-ABCD2345）上报的“育婴师初级理论3.jpg”画面几乎相同。',
        '每次培训须上传本次培训现场拍摄的照片，不能把其他培训的照片另存、压缩或裁剪后使用。如确属误用，请换成本次培训的照片后重新上传；如确为同一次培训，请与管理员联系说明。'),
    ('W_TRAINEE_OVERLAP', 'same_training'): ({'person': '李四（110101********1234）', 'training': '育婴师初级', 'period': '2026-11-01 至 2026-11-10', 'other_period': '2026-11-05 至 2026-11-15', 'other': '东风职业培训学校“育婴师初级”培训（回执编号 R20261120-ABCD2345）', 'other_receipt': 'R20261120-ABCD2345', 'fault': 'same_training'},
        '学员李四（110101********1234）参加本次“育婴师初级”培训（2026-11-01 至 2026-11-10），同期（2026-11-05 至 2026-11-15）也在东风职业培训学校“育婴师初级”培训（回执编号 R20261120-ABCD2345）参加同一职业同一等级的培训。',
        '同一名学员不能同时参加两期同职业同等级的培训。请核对该学员的身份证号和培训名单；如填写有误，请改正后重新上传。'),
    ('W_TEACHER_OVERLAP', 'institutions'): ({'person': '王老师（110101********5678）', 'date': '2026-11-03', 'total': '4', 'max': '8', 'parts': '本次“育婴师初级” 6 学时；东风职业培训学校“电工初级”培训（回执编号 R20261120-ABCD2345） 6 学时', 'other_receipt': 'R20261120-ABCD2345', 'fault': 'institutions'},
        '教师王老师（110101********5678）在 2026-11-03 同时在两个机构授课：本次“育婴师初级” 6 学时；东风职业培训学校“电工初级”培训（回执编号 R20261120-ABCD2345） 6 学时。',
        '同一名教师同一天不能在两个机构授课。请核对该教师的授课安排和大纲中的日期；如填写有误，请改正后重新上传。'),
}


def test_every_code_is_rendered_here():
    assert set(RENDERED) == set(CATALOGUE)
    assert set(RENDERED_CAUSES) == {(code, cause) for code, kind in CATALOGUE.items() for cause in kind.causes}


@pytest.mark.parametrize(("code", "cause"), sorted(RENDERED_CAUSES))
def test_a_cause_has_its_own_wording(code: str, cause: str):
    params, message, hint = RENDERED_CAUSES[(code, cause)]
    p = problem(code, "培训机构20261120/x", **params)
    assert (p.message, p.hint) == (message, hint)
    assert p.hint != CATALOGUE[code].hint


def test_a_fault_without_a_cause_of_its_own_gets_the_code_wording():
    p = problem("PKG_LIMIT", "", detail="x", fault="something_new")
    assert p.hint == CATALOGUE["PKG_LIMIT"].hint
    assert problem("PKG_LIMIT", "", detail="x", fault=["not", "a", "name"]).hint == CATALOGUE["PKG_LIMIT"].hint


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_message_and_hint_render_from_the_parameters(code: str):
    params, message, hint = RENDERED[code]
    kind = CATALOGUE[code]
    fields = {f for _, f, _, _ in string.Formatter().parse(kind.template + kind.hint) if f}
    assert fields <= set(params), f"{code}: the table misses {fields - set(params)}"
    p = problem(code, "培训机构20261120/x", **params)
    assert (p.message, p.hint) == (message, hint)
    assert dict(p.params) == params  # the problem keeps what it was rendered from


def test_parameters_are_masked_like_the_message():
    p = problem("FORM_ID_NUMBER", "x", form="签到表.json", location="第 1 次签到", id_number="110101199003071234",
                reason="校验码不符")
    assert p.params["id_number"] == "110101********1234"
    assert "199003071234" not in p.message


_CODE_LIKE = re.compile(r"\b[A-Z]{2,}_[A-Z_]{2,}\b")
_POINTER_LIKE = re.compile(r"(?:/[a-z_]+)+/\d+|/[a-z_]+_[a-z_]+")


def test_no_message_or_hint_speaks_to_engineers():
    """Issue 15: the clerk reads words; codes and JSON pointers are data, not text."""
    for params, message, hint in [*RENDERED.values(), *RENDERED_CAUSES.values()]:
        for text in (message, hint):
            assert not _CODE_LIKE.search(text) and not _POINTER_LIKE.search(text), text
            assert "SHA-256" not in text and "pipeline " not in text, text
