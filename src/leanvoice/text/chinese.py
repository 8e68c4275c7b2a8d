"""Mandarin G2P into the v2 symbols: pypinyin (phrase-aware) + jieba words + tone sandhi.

Each syllable becomes an initial and a tone-numbered final as in the official set
(zero-initial syllables take `AA`/`EE`/`OO`/`y`/`w`; `zhi` → `zh ir`, `zi` → `z i0`,
`ju` → `j v`, `yan` → `y En`). `word2ph` counts the phonemes of each character, which
later aligns BERT character features to phonemes as the official pipeline does.
"""

from __future__ import annotations

import functools
import logging
import re

from pypinyin import Style, lazy_pinyin

from leanvoice.errors import TextError
from leanvoice.text.symbols import PUNCTUATION, SYMBOL_TO_ID

# A hand-laid table, several short entries per line (`# fmt: skip` at its end).
_PUNCTUATION_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",",
    "、": ",", "...": "…", "$": ".", "/": ",", "—": "-", "~": "…", "～": "…", ":": ",",
    ";": ",",
}  # fmt: skip
_HAN = r"\u4e00-\u9fa5"
_INITIALS = (
    "zh",
    "ch",
    "sh",
    "b",
    "p",
    "m",
    "f",
    "d",
    "t",
    "n",
    "l",
    "g",
    "k",
    "h",
    "j",
    "q",
    "x",
    "r",
    "z",
    "c",
    "s",
)
_DIGIT_CHARS = set("零一二三四五六七八九十百千万亿两第")
_PARTICLES = set("吧呢哈啊呐噻嘛吖嗨哦哒额滴哩哟喽啰耶喔诶")
# Common words whose last syllable is lexically neutral (a short list of our own; the
# official front end carries a longer one).
_LEXICAL_NEUTRAL = set(
    "朋友 喜欢 东西 衣服 时候 先生 事情 意思 明白 关系 地方 窗户 清楚 漂亮 舒服 告诉 "
    "认识 消息 多少 麻烦 热闹 收拾 打扮 商量 客气 便宜 聪明 暖和 休息 脑袋 眼睛 耳朵 嘴巴 尾巴 "
    "豆腐 萝卜 葡萄 月亮 太阳 故事 名字 姑娘 丈夫 媳妇 大夫 师傅 行李 困难 学问 生意 "
    "厉害 马虎 糊涂 结实 干净 凉快 精神 打听 琢磨 咳嗽 吩咐 招呼 石头 木头 骨头 "
    "舌头 指头 枕头 馒头 盘算 爸爸 妈妈 哥哥 姐姐 弟弟 妹妹 爷爷 奶奶 叔叔 阿姨 屁股 "
    "玻璃 巴掌 部分 动静 报酬 本事 别扭 拨弄 苍蝇 柴火 称呼 出息 畜生 窗帘 打算 耽误 "
    "灯笼 提防 点心 钥匙 风筝 福气 甘蔗 疙瘩 跟头 工夫 功夫 规矩 闺女 和尚 核桃 狐狸 "
    "胡琴 护士 皇上 活泼 火候 伙计 机灵 记性 家伙 嫁妆 见识 将就 交情 叫唤 街坊 芝麻 "
    "口袋 苦处 快活 阔气 喇叭 老婆 老实 老爷 力气 利索 粮食 铃铛 溜达 啰嗦 买卖 忙活 "
    "眉毛 门道 迷糊 苗条 模糊 磨蹭 念叨 娘家 奴才 女婿 暖壶 牌楼 朋友 脾气 便宜 漂亮 "
    "亲戚 勤快 清楚 热乎 人家 认得 日子 软和 扫帚 少爷 神仙 牲口 师父 实在 使唤 世故 "
    "似的 收成 书记 舒坦 爽快 思量 算计 岁数 孙子 特务 挑剔 跳蚤 铁匠 头发 唾沫 "
    "尾巴 委屈 稳当 窝囊 稀罕 下巴 吓唬 先生 相声 小气 笑话 心思 行当 秀才 学生 "
    "丫头 衙门 哑巴 烟筒 胭脂 严实 秧歌 养活 吆喝 妖精 衣裳 意思 应酬 冤家 云彩 "
    "运气 在乎 咱们 怎么 扎实 眨巴 栅栏 张罗 帐篷 招牌 折腾 这个 那个 知识 "
    "指甲 主意 转悠 庄稼 壮实 状元 字号 自在 祖宗 作坊 琢磨 窟窿 含糊".split()
)


def normalize_chinese(text: str) -> str:
    """Numbers to characters, punctuation to the v2 set, everything else dropped."""
    import cn2an

    text = text.replace("嗯", "恩").replace("呣", "母")
    text = cn2an.transform(text, "an2cn")
    pattern = "|".join(re.escape(k) for k in sorted(_PUNCTUATION_MAP, key=len, reverse=True))
    text = re.sub(pattern, lambda m: _PUNCTUATION_MAP[m.group(0)], text)
    punct = "".join(re.escape(p) for p in PUNCTUATION)
    text = re.sub(rf"[^{_HAN}{punct}]+", "", text)
    return re.sub(rf"([{punct}])[{punct}]+", r"\1", text)


def chinese_to_phonemes(text: str) -> tuple[list[str], list[int]]:
    """Normalised Mandarin → (phonemes, word2ph: phonemes per character)."""
    phonemes: list[str] = []
    word2ph: list[int] = []
    for run in re.findall(rf"[{_HAN}]+|[^{_HAN}]", text):
        if run in PUNCTUATION:
            phonemes.append(run)
            word2ph.append(1)
            continue
        for word, pos, syllables, parts in _merge_third_tones(_words_with_pinyin(run)):
            syllables = _apply_sandhi(word, pos, syllables, parts)
            for char, syllable in zip(word, syllables, strict=True):
                initial, final = syllable_to_symbols(syllable, char)
                phonemes += [initial, final]
                word2ph.append(2)
    if not phonemes or all(p in PUNCTUATION for p in phonemes):
        raise TextError(f"no Mandarin characters in {text!r}")
    return phonemes, word2ph


def syllable_to_symbols(syllable: str, char: str = "?") -> tuple[str, str]:
    """`zhong1` → (`zh`, `ong1`); raises TextError when outside the v2 set."""
    tone = syllable[-1]
    if tone not in "12345" or len(syllable) < 2:
        raise TextError(f"character {char!r} has no Mandarin reading ({syllable!r})")
    base = syllable[:-1].replace("ü", "v")
    initial, final = _split_syllable(base)
    final += tone
    if initial not in SYMBOL_TO_ID or final not in SYMBOL_TO_ID:
        raise TextError(f"pinyin {syllable!r} of {char!r} is not in the v2 symbol table")
    return initial, final


def _split_syllable(base: str) -> tuple[str, str]:
    if base[0] == "y":
        rest = base[1:]
        if rest.startswith("u"):
            rest = "v" + rest[1:]  # yu yuan yue yun
        return "y", {"an": "En", "e": "E"}.get(rest, rest or "i")
    if base[0] == "w":
        return "w", "u" if base == "wu" else base[1:]
    if base[0] in "aeo":
        return {"a": "AA", "e": "EE", "o": "OO"}[base[0]], base
    for initial in _INITIALS:
        if base.startswith(initial):
            rest = base[len(initial) :]
            if initial in ("j", "q", "x") and rest.startswith("u"):
                rest = "v" + rest[1:]
            if rest == "i" and initial in ("zh", "ch", "sh", "r"):
                rest = "ir"
            elif rest == "i" and initial in ("z", "c", "s"):
                rest = "i0"
            return initial, rest
    return "", base


@functools.lru_cache(maxsize=1)
def _posseg():  # jieba loads its dictionary on first use (~1 s), so only when needed
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


def _words_with_pinyin(run: str) -> list[tuple[str, str, list[str]]]:
    words = []
    for pair in _posseg().lcut(run):
        syllables = lazy_pinyin(pair.word, style=Style.TONE3, neutral_tone_with_five=True)
        if len(syllables) != len(pair.word):
            raise TextError(f"no pinyin for {pair.word!r}")
        words.append((pair.word, pair.flag, syllables))
    return words


def _merge_third_tones(words: list[tuple[str, str, list[str]]]) -> list:
    """Join a word onto the one before when the two meet on third tones and stay short
    (≤ 3 characters, no reduplication), so third-tone sandhi can span them (`我有` → wo2).
    Each entry keeps the lengths of the words it joined: the sandhi depends on them."""
    merged: list[tuple[str, str, list[str], tuple[int, ...]]] = []
    joined_last = False
    for word, pos, syllables in words:
        if merged and not joined_last:
            last_word, last_pos, last_syllables, _ = merged[-1]
            meet_on_three = last_syllables[-1][-1] == "3" and syllables[0][-1] == "3"
            short = len(last_word) + len(word) <= 3
            reduplicated = len(last_word) == 2 and last_word[0] == last_word[1]
            if meet_on_three and short and not reduplicated:
                parts = (len(last_word), len(word))
                merged[-1] = (last_word + word, last_pos, last_syllables + syllables, parts)
                joined_last = True
                continue
        merged.append((word, pos, syllables, (len(word),)))
        joined_last = False
    return merged


def _apply_sandhi(word: str, pos: str, syllables: list[str], parts: tuple[int, ...]) -> list[str]:
    """Tone sandhi of 不 and 一, neutral tones, then third tones."""
    tones = [s[-1] for s in syllables]
    for i, char in enumerate(word):
        nxt = tones[i + 1] if i + 1 < len(word) else None
        if char == "不" and nxt == "4":
            tones[i] = "2"
        elif char == "一" and nxt is not None and not _is_numeric_context(word, i):
            tones[i] = "2" if nxt == "4" else "4"
    for i in _neutral_positions(word, pos):
        tones[i] = "5"
    _third_tone_sandhi(tones, parts)
    return [s[:-1] + t for s, t in zip(syllables, tones, strict=True)]


def _third_tone_sandhi(tones: list[str], parts: tuple[int, ...]) -> None:
    """A third tone before another becomes a second, grouped by the word's parts: a
    two-syllable word; three syllables as 2+1 (`展览/馆` → 2 2 3) or 1+2 (`纸/老虎` →
    3 2 3), where parts of other tones change only at their meeting (`好/喜欢`); four as
    2+2; longer runs right to left."""
    three = [t == "3" for t in tones]
    if len(tones) == 2 and all(three):
        tones[0] = "2"
    elif len(tones) == 3:
        first = parts[0] if len(parts) == 2 else 2
        if all(three):
            tones[:2] = ["2", "2"] if first == 2 else ["3", "2"]
            return
        if first == 2 and three[0] and three[1]:
            tones[0] = "2"
        elif first == 1 and three[1] and three[2]:
            tones[1] = "2"
        elif first == 1 and three[0] and three[1]:
            tones[0] = "2"
    elif len(tones) == 4:
        for start in (0, 2):
            if three[start] and three[start + 1]:
                tones[start] = "2"
    else:
        for i in range(len(tones) - 2, -1, -1):
            if tones[i] == "3" and tones[i + 1] == "3":
                tones[i] = "2"


def _neutral_positions(word: str, pos: str) -> list[int]:
    """Characters said in the neutral tone: particles, suffixes, directional complements,
    the measure word 个, reduplicated syllables and common lexical neutral tones."""
    positions = [
        i for i in range(1, len(word)) if word[i] == word[i - 1] and pos[:1] in ("n", "v", "a")
    ]
    last = len(word) - 1
    ge = word.find("个")
    if (
        word[-1] in _PARTICLES
        or word[-1] in "的地得"
        or (word in ("了", "着", "过") and pos in ("ul", "uz", "ug"))
        or (len(word) > 1 and word[-1] in "们子" and pos in ("r", "n"))
        or (len(word) > 1 and word[-1] in "上下里" and pos in ("s", "l", "f"))
        or (len(word) > 1 and word[-1] in "来去" and word[-2] in "上下进出回过起开")
    ):
        positions.append(last)
    elif word == "个" or (
        ge >= 1 and (word[ge - 1] in _DIGIT_CHARS or word[ge - 1] in "几有两半多各整每做是")
    ):
        positions.append(ge)
    elif len(word) > 1 and word[-2:] in _LEXICAL_NEUTRAL:
        positions.append(last)
    return positions


def _is_numeric_context(word: str, index: int) -> bool:
    neighbours = word[max(0, index - 1) : index] + word[index + 1 : index + 2]
    return any(c in _DIGIT_CHARS and c != "一" for c in neighbours)
