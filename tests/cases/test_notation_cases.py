"""表記ゆれの事例集 / the notation case corpus — domain brief §2, written from the brief.

Every row is one member and the resident its number points to: the same person whose name the
insurer holds in another notation (or a trap that only looks like one). Each row says what must
be raised on the member and what must not. All rows live in one small town and are scanned
together by the real rules (``detectors.engine.run_rules``); each row has its own birth date,
household and number, so the rows do not see each other.

A failing row is a bug in the product, not in the table.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from detectors.engine import run_rules
from reconcile.privacy import check_digits
from tests.factories import members_frame, residents_frame

AS_OF = pd.Timestamp("2026-11-01")
RULES = ["MISLINK_SUSPECTED", "NOTATION_DIFFERENCE", "NUMBER_SHARED", "RESIDENT_NOT_FOUND", "NUMBER_INVALID"]
NOTATION = "NOTATION_DIFFERENCE"
MISLINK = "MISLINK_SUSPECTED"
LINK_RULES = {MISLINK, "NUMBER_SHARED", "RESIDENT_NOT_FOUND", "NUMBER_INVALID"}


def valid_number(seed: int) -> str:
    """A 12-digit individual number whose check digit holds (domain brief §3)."""
    body = f"{(seed * 7919 + 104_729) % 10**11:011d}"
    check = int(check_digits(np.array([[int(d) for d in body]]))[0])
    return body + str(check)


def scan(members: list[dict], residents: list[dict]) -> pd.DataFrame:
    frames = {"members": members_frame(members), "residents": residents_frame(residents)}
    return run_rules(frames, as_of=AS_OF, rule_ids=RULES).findings


def raised(findings: pd.DataFrame, member_id: str) -> set[str]:
    return set(findings.loc[findings["member_id"] == member_id, "rule_id"])


def person(i: int, prefix: str) -> dict:
    """The facts of row ``i`` that both sides share unless the row says otherwise."""
    return {"birth_date": (date(1940, 1, 3) + timedelta(days=211 * i)).isoformat(), "sex": 1 + i % 2,
            "address": f"東京都千代田区千代田{i + 1}-1", "household_id": f"{prefix}H{i}", "number": valid_number(i + 1000 * len(prefix))}


# Each row: kind, description, the member's and the resident's name columns (and any other
# difference), what must be raised, what must not, and a reason code the evidence must name.
def row(kind, description, member, resident, must=(NOTATION,), must_not=tuple(LINK_RULES), reason=None, only=False):
    """``reason``: a reason code the evidence must name (``only``: and nothing else)."""
    return {"kind": kind, "description": description, "member": member, "resident": resident,
            "must": set(must), "must_not": set(must_not), "reason": reason, "only": only}


def kanji(name_kanji_m, kana_m, name_kanji_r, kana_r=None, **resident):
    return ({"name_kanji": name_kanji_m, "name_kana": kana_m},
            {"name_kanji": name_kanji_r, "name_kana": kana_r if kana_r is not None else kana_m, **resident})


def alpha(name_m, kana_m, name_r, kana_r, **resident):
    """A foreign resident registered under the alphabet name (name_kanji and name_alpha)."""
    return ({"name_kanji": name_m, "name_kana": kana_m},
            {"name_kanji": name_r, "name_alpha": name_r, "name_kana": kana_r, **resident})


CASES = [
    # --- 異体字・旧字体 (variant and old kanji), including the rare MJ-only 䅰 ----------------
    row("variant_kanji", "髙橋 held, registry 高橋", *kanji("髙橋 一郎", "タカハシ イチロウ", "高橋 一郎"), reason="VARIANT_KANJI"),
    row("variant_kanji", "山﨑 registered, insurer 山崎", *kanji("山崎 花子", "ヤマザキ ハナコ", "山﨑 花子"), reason="VARIANT_KANJI"),
    row("variant_kanji", "𠮷田 (outside the BMP) vs 吉田", *kanji("吉田 茂", "ヨシダ シゲル", "𠮷田 茂"), reason="VARIANT_KANJI"),
    row("variant_kanji", "䅰 (MJ 縮退マップ only) for 穂", *kanji("佐藤 美穂", "サトウ ミホ", "佐藤 美䅰"), reason="VARIANT_KANJI"),
    row("variant_kanji", "渡邉 vs 渡辺", *kanji("渡邉 恵", "ワタナベ メグミ", "渡辺 恵"), reason="VARIANT_KANJI"),
    row("variant_kanji", "齋藤 vs 斎藤 (one family)", *kanji("齋藤 健", "サイトウ ケン", "斎藤 健"), reason="VARIANT_KANJI"),
    row("variant_kanji", "澤田 vs 沢田", *kanji("澤田 修", "サワダ オサム", "沢田 修"), reason="VARIANT_KANJI"),
    row("variant_kanji", "櫻井 vs 桜井", *kanji("桜井 翔子", "サクライ ショウコ", "櫻井 翔子"), reason="VARIANT_KANJI"),
    row("variant_kanji", "穗 vs 穂 with an ideographic variation selector", *kanji("山本 穂\U000E0100", "ヤマモト ミノル", "山本 穗"), reason="VARIANT_KANJI"),
    # --- 外字 placeholders ------------------------------------------------------------------
    row("gaiji", "〓 for 𠮷", *kanji("〓田 花子", "ヨシダ ハナコ", "𠮷田 花子"), reason="GAIJI"),
    row("gaiji", "● for 橋", *kanji("髙● 一郎", "タカハシ イチロウ", "髙橋 一郎"), reason="GAIJI"),
    row("gaiji", "■ for 邊", *kanji("渡■ 恵子", "ワタナベ ケイコ", "渡邊 恵子"), reason="GAIJI"),
    row("gaiji", "private-use code point for 𠮷", *kanji("\ue001田 茂雄", "ヨシダ シゲオ", "𠮷田 茂雄"), reason="GAIJI"),
    row("gaiji", "〓 for 䅰", *kanji("佐藤 美〓", "サトウ ミホ", "佐藤 美䅰"), reason="GAIJI"),
    # --- small kana written large -------------------------------------------------------------
    row("kana_small", "キヨウコ / キョウコ", *kanji("田中 京子", "タナカ キヨウコ", "田中 京子", "タナカ キョウコ"), reason="KANA_SMALL"),
    row("kana_small", "ホツタ / ホッタ", *kanji("堀田 健", "ホツタ ケン", "堀田 健", "ホッタ ケン"), reason="KANA_SMALL"),
    row("kana_small", "シヨウイチ / ショウイチ", *kanji("佐藤 正一", "サトウ シヨウイチ", "佐藤 正一", "サトウ ショウイチ"), reason="KANA_SMALL"),
    row("kana_small", "リユウジ / リュウジ", *kanji("石川 竜二", "イシカワ リユウジ", "石川 竜二", "イシカワ リュウジ"), reason="KANA_SMALL"),
    row("kana_small", "ジユン / ジュン", *kanji("菊池 純", "キクチ ジユン", "菊池 純", "キクチ ジュン"), reason="KANA_SMALL"),
    # --- ヴ row vs バ row ---------------------------------------------------------------------
    row("kana_vu", "イヴァン / イバン", *alpha("IVAN PETROV", "イヴァン ペトロフ", "IVAN PETROV", "イバン ペトロフ"), reason="KANA_VU"),
    row("kana_vu", "ヴィクトル / ビクトル", *alpha("VICTOR HUGO", "ヴィクトル ユゴー", "VICTOR HUGO", "ビクトル ユゴー"), reason="KANA_VU"),
    row("kana_vu", "エヴァ / エバ", *alpha("EVA MULLER", "エヴァ ミュラー", "EVA MULLER", "エバ ミュラー"), reason="KANA_VU"),
    row("kana_vu", "デイヴィッド / デイビッド", *alpha("DAVID LEE", "デイヴィッド リー", "DAVID LEE", "デイビッド リー"), reason="KANA_VU"),
    row("kana_vu", "ヴェラ ノヴァク / ベラ ノバク", *alpha("VERA NOVAK", "ヴェラ ノヴァク", "VERA NOVAK", "ベラ ノバク"), reason="KANA_VU"),
    # --- long-vowel marks present or absent ---------------------------------------------------
    row("kana_long_vowel", "ルーカス / ルカス", *alpha("LUCAS SILVA", "ルーカス シルバ", "LUCAS SILVA", "ルカス シルバ"), reason="KANA_LONG_VOWEL"),
    row("kana_long_vowel", "マリー / マリ", *alpha("MARIE DUPONT", "マリー デュポン", "MARIE DUPONT", "マリ デュポン"), reason="KANA_LONG_VOWEL"),
    row("kana_long_vowel", "ムーア / ムア", *alpha("KATE MOORE", "ケイト ムーア", "KATE MOORE", "ケイト ムア"), reason="KANA_LONG_VOWEL"),
    row("kana_long_vowel", "ジョージ / ジョジ", *alpha("GEORGE WANG", "ジョージ ワン", "GEORGE WANG", "ジョジ ワン"), reason="KANA_LONG_VOWEL"),
    row("kana_long_vowel", "～ for ー", *alpha("ALLY WHITE", "アリ～ ホワイト", "ALLY WHITE", "アリー ホワイト"), reason="KANA_LONG_VOWEL"),
    # --- half-width ---------------------------------------------------------------------------
    row("halfwidth", "ｽｽﾞｷ ｲﾁﾛｳ", *kanji("鈴木 一郎", "ｽｽﾞｷ ｲﾁﾛｳ", "鈴木 一郎", "スズキ イチロウ"), reason="KANA_HALFWIDTH"),
    row("halfwidth", "ﾀｶﾊｼ ﾊﾅｺ", *kanji("高橋 花子", "ﾀｶﾊｼ ﾊﾅｺ", "高橋 花子", "タカハシ ハナコ"), reason="KANA_HALFWIDTH"),
    row("halfwidth", "ｻﾄｳ ｹﾝｼﾞ", *kanji("佐藤 健二", "ｻﾄｳ ｹﾝｼﾞ", "佐藤 健二", "サトウ ケンジ"), reason="KANA_HALFWIDTH"),
    row("halfwidth", "ｲﾄｳ ﾐｷ", *kanji("伊藤 美樹", "ｲﾄｳ ﾐｷ", "伊藤 美樹", "イトウ ミキ"), reason="KANA_HALFWIDTH"),
    row("halfwidth", "full-width alphabet name", *alpha("ＪＯＨＮ ＳＭＩＴＨ", "ジョン スミス", "JOHN SMITH", "ジョン スミス"), reason="WIDTH"),
    # --- hiragana -----------------------------------------------------------------------------
    row("hiragana", "やまだ はなこ", *kanji("山田 花子", "やまだ はなこ", "山田 花子", "ヤマダ ハナコ"), reason="KANA_HIRAGANA"),
    row("hiragana", "すずき じろう", *kanji("鈴木 次郎", "すずき じろう", "鈴木 次郎", "スズキ ジロウ"), reason="KANA_HIRAGANA"),
    row("hiragana", "たなか ゆうき", *kanji("田中 勇気", "たなか ゆうき", "田中 勇気", "タナカ ユウキ"), reason="KANA_HIRAGANA"),
    row("hiragana", "わたなべ けい", *kanji("渡辺 圭", "わたなべ けい", "渡辺 圭", "ワタナベ ケイ"), reason="KANA_HIRAGANA"),
    row("hiragana", "こばやし まい on the registry side", *kanji("小林 舞", "コバヤシ マイ", "小林 舞", "こばやし まい"), reason="KANA_HIRAGANA"),
    # --- spaces and ・ ---------------------------------------------------------------------------
    row("spacing", "no space between surname and given name", *kanji("山田太郎", "ヤマダ タロウ", "山田 太郎"), reason="SPACING"),
    row("spacing", "kana without the space", *kanji("中島 聡", "ナカジマサトシ", "中島 聡", "ナカジマ サトシ"), reason="SPACING"),
    row("spacing", "グエン・バン・アン vs spaces", *alpha("NGUYEN VAN AN", "グエン・バン・アン", "NGUYEN VAN AN", "グエン バン アン"), reason="SPACING"),
    row("spacing", "マリア・サントス vs a space", *alpha("MARIA SANTOS", "マリア・サントス", "MARIA SANTOS", "マリア サントス"), reason="SPACING"),
    row("spacing", "two spaces in the kanji name", *kanji("森  一郎", "モリ イチロウ", "森 一郎"), reason="SPACING", only=True),
    row("spacing", "a full-width space for the half-width one", *kanji("佐藤　花江", "サトウ ハナエ", "佐藤 花江"), reason="WIDTH", only=True),
    # --- the official reading recorded in 2025–26 (kanji agree, kana differ) --------------------
    row("kana_reading", "光宙: ピカチュウ → ヒカル", *kanji("山田 光宙", "ヤマダ ピカチュウ", "山田 光宙", "ヤマダ ヒカル"), reason="KANA_READING"),
    row("kana_reading", "一: イチ → ハジメ", *kanji("佐藤 一", "サトウ イチ", "佐藤 一", "サトウ ハジメ"), reason="KANA_READING"),
    row("kana_reading", "心愛: ココア → ココナ", *kanji("鈴木 心愛", "スズキ ココア", "鈴木 心愛", "スズキ ココナ"), reason="KANA_READING"),
    row("kana_reading", "大翔: ヒロト → ヤマト", *kanji("高橋 大翔", "タカハシ ヒロト", "高橋 大翔", "タカハシ ヤマト"), reason="KANA_READING"),
    row("kana_reading", "東海林: トウカイリン → ショウジ (surname reading)", *kanji("東海林 誠", "トウカイリン マコト", "東海林 誠", "ショウジ マコト"), reason="KANA_READING"),
    # --- foreign names: alphabet order ---------------------------------------------------------
    row("alpha_order", "JOSE SANTOS / SANTOS JOSE", *alpha("JOSE SANTOS", "ジョセ サントス", "SANTOS JOSE", "サントス ジョセ"),
        reason="ALPHA_ORDER", only=True),
    row("alpha_order", "VAN AN NGUYEN / NGUYEN VAN AN", *alpha("VAN AN NGUYEN", "バン アン グエン", "NGUYEN VAN AN", "グエン バン アン"), reason="ALPHA_ORDER"),
    row("alpha_order", "MARIA GARCIA / GARCIA MARIA", *alpha("MARIA GARCIA", "マリア ガルシア", "GARCIA MARIA", "ガルシア マリア"), reason="ALPHA_ORDER"),
    row("alpha_order", "Smith, John / JOHN SMITH", *alpha("Smith, John", "スミス ジョン", "JOHN SMITH", "ジョン スミス"), reason="ALPHA_ORDER"),
    row("alpha_order", "MINSU KIM / KIM MINSU", *alpha("MINSU KIM", "ミンス キム", "KIM MINSU", "キム ミンス"), reason="ALPHA_ORDER"),
    # --- foreign names: middle names dropped -----------------------------------------------------
    row("alpha_middle_name", "MARIA SANTOS / MARIA CLARA SANTOS", *alpha("MARIA SANTOS", "マリア サントス", "MARIA CLARA SANTOS", "マリア クララ サントス"), reason="ALPHA_MIDDLE_NAME"),
    row("alpha_middle_name", "JOHN SMITH / JOHN PAUL SMITH", *alpha("JOHN SMITH", "ジョン スミス", "JOHN PAUL SMITH", "ジョン ポール スミス"), reason="ALPHA_MIDDLE_NAME"),
    row("alpha_middle_name", "ANA REYES / ANA MARIE REYES", *alpha("ANA REYES", "アナ レイエス", "ANA MARIE REYES", "アナ マリー レイエス"), reason="ALPHA_MIDDLE_NAME"),
    row("alpha_middle_name", "CARLOS SILVA / CARLOS EDUARDO SILVA", *alpha("CARLOS SILVA", "カルロス シルバ", "CARLOS EDUARDO SILVA", "カルロス エドゥアルド シルバ"), reason="ALPHA_MIDDLE_NAME"),
    row("alpha_middle_name", "SANTOS MARIA / MARIA LUISA SANTOS (order and middle name)", *alpha("SANTOS MARIA", "サントス マリア", "MARIA LUISA SANTOS", "マリア ルイサ サントス"), reason="ALPHA_MIDDLE_NAME"),
    # --- foreign names: katakana in the kanji field, registry in kanji (CN/KR) -----------------
    row("kana_in_kanji_field", "イ ミンジュン / 李 敏俊", *kanji("イ ミンジュン", "イ ミンジュン", "李 敏俊", "イ ミンジュン", name_alpha="LEE MINJUN"), reason="KANA_IN_KANJI_FIELD"),
    row("kana_in_kanji_field", "キム ジウ / 金 智宇", *kanji("キム ジウ", "キム ジウ", "金 智宇", "キム ジウ"), reason="KANA_IN_KANJI_FIELD"),
    row("kana_in_kanji_field", "チャン ウェイ / 張 偉", *kanji("チャン ウェイ", "チャン ウェイ", "張 偉", "チャン ウェイ", name_alpha="ZHANG WEI"), reason="KANA_IN_KANJI_FIELD"),
    row("kana_in_kanji_field", "パク ソヨン / 朴 素妍 (kana without space)", *kanji("パク ソヨン", "パクソヨン", "朴 素妍", "パク ソヨン"), reason="KANA_IN_KANJI_FIELD"),
    row("kana_in_kanji_field", "リン メイリン / 林 美玲", *kanji("リン メイリン", "リン メイリン", "林 美玲", "リン メイリン", name_alpha="LIN MEILING"), reason="KANA_IN_KANJI_FIELD"),
    # --- foreign names: katakana held, registry in the alphabet ---------------------------------
    row("katakana_alphabet", "グエン バン アン / NGUYEN VAN AN", *alpha("グエン バン アン", "グエン バン アン", "NGUYEN VAN AN", None), reason="KATAKANA_ALPHABET"),
    row("katakana_alphabet", "マリア サントス / MARIA SANTOS", *alpha("マリア サントス", "マリア サントス", "MARIA SANTOS", None), reason="KATAKANA_ALPHABET"),
    row("katakana_alphabet", "ジョン スミス / JOHN SMITH", *alpha("ジョン スミス", "ジョン スミス", "JOHN SMITH", None), reason="KATAKANA_ALPHABET"),
    row("katakana_alphabet", "ホセ ガルシア / JOSE GARCIA", *alpha("ホセ ガルシア", "ホセ ガルシア", "JOSE GARCIA", None), reason="KATAKANA_ALPHABET"),
    row("katakana_alphabet", "トラン ティ ハー / TRAN THI HA", *alpha("トラン ティ ハー", "トラン ティ ハー", "TRAN THI HA", None), reason="KATAKANA_ALPHABET"),
    # --- foreign names: katakana transliterations that differ -----------------------------------
    row("transliteration", "タン / タイン", *alpha("グエン タン", "グエン タン", "NGUYEN THANH", "グエン タイン")),
    row("transliteration", "ロサリー / ロザリー", *alpha("ロサリー サントス", "ロサリー サントス", "ROSALIE SANTOS", "ロザリー サントス")),
    row("transliteration", "ヴィ / ビ in the kanji field", *alpha("ヴィクトル ペトロフ", "ヴィクトル ペトロフ", "VIKTOR PETROV", "ビクトル ペトロフ")),
    row("transliteration", "ドゥック / ドック", *alpha("ファム バン ドック", "ファム バン ドック", "PHAM VAN DUC", "ファム ヴァン ドゥック")),
    row("transliteration", "ホアン / ホワン", *alpha("ホアン ティ マイ", "ホアン ティ マイ", "HOANG THI MAI", "ホワン ティ マイ")),
    row("transliteration", "Vietnamese TR = チ: トラン チャン / TRAN TRANG (registry kana チャン チャン)",
        *alpha("トラン チャン", "トラン チャン", "TRAN TRANG", "チャン チャン")),
    row("transliteration", "Spanish J = ホ: ガルシア ホゼ / GARCIA JOSE", *alpha("ガルシア ホゼ", "ガルシア ホゼ", "GARCIA JOSE", None)),
    row("transliteration", "ブイ チャン / BUI TRANG, no registered kana", *alpha("ブイ チャン", "ブイ チャン", "BUI TRANG", None)),
    # --- 通称 (alias): the insurer holds the alias the registry records --------------------------
    row("alias", "金田 花子 / 金 花子 通称 金田 花子", *kanji("金田 花子", "カネダ ハナコ", "金 花子", "キム ハナコ", alias_name="金田 花子"), reason="ALIAS"),
    row("alias", "木村 一郎 / 金 一郎 通称 木村 一郎", *kanji("木村 一郎", "キムラ イチロウ", "金 一郎", "キム イチロウ", alias_name="木村 一郎"), reason="ALIAS"),
    row("alias", "新井 美子 / 朴 美子 通称 新井 美子", *kanji("新井 美子", "アライ ヨシコ", "朴 美子", "パク ミジャ", alias_name="新井 美子"), reason="ALIAS"),
    row("alias", "山本 太郎 / NGUYEN VAN TAI 通称 山本 太郎", *alpha("山本 太郎", "ヤマモト タロウ", "NGUYEN VAN TAI", "グエン バン タイ", alias_name="山本 太郎"), reason="ALIAS"),
    row("alias", "張本 建 / 張 建 通称 張本 建 (alias in a variant)", *kanji("張本 建", "ハリモト ケン", "張 建", "チャン ジェン", alias_name="張本 建"), reason="ALIAS"),
    # --- 旧氏 (former surname) -----------------------------------------------------------------
    row("former_surname", "高橋 幸子 / 鈴木 幸子 旧氏 高橋", *kanji("高橋 幸子", "タカハシ サチコ", "鈴木 幸子", "スズキ サチコ", former_surname="高橋"), reason="FORMER_SURNAME"),
    row("former_surname", "佐藤 恵 / 田中 恵 旧氏 佐藤", *kanji("佐藤 恵", "サトウ メグミ", "田中 恵", "タナカ メグミ", former_surname="佐藤"), reason="FORMER_SURNAME"),
    row("former_surname", "髙木 由美 / 山本 由美 旧氏 高木 (variant)", *kanji("髙木 由美", "タカギ ユミ", "山本 由美", "ヤマモト ユミ", former_surname="高木"), reason="FORMER_SURNAME"),
    row("former_surname", "中村 真理 / 小林 真理 旧氏 中村", *kanji("中村 真理", "ナカムラ マリ", "小林 真理", "コバヤシ マリ", former_surname="中村"), reason="FORMER_SURNAME"),
    row("former_surname", "伊藤 さくら / 加藤 さくら 旧氏 伊藤", *kanji("伊藤 さくら", "イトウ サクラ", "加藤 さくら", "カトウ サクラ", former_surname="伊藤"), reason="FORMER_SURNAME"),
    # --- traps: 斎藤 and 斉藤 are two surname families ------------------------------------------
    row("trap_saito", "斎藤 茂 is not 斉藤 茂", *kanji("斎藤 茂", "サイトウ シゲル", "斉藤 茂"), must=(), must_not=(NOTATION,)),
    row("trap_saito", "齋藤 誠 is not 齊藤 誠", *kanji("齋藤 誠", "サイトウ マコト", "齊藤 誠"), must=(), must_not=(NOTATION,)),
    row("trap_saito", "斉藤 花 is not 斎藤 花", *kanji("斉藤 花", "サイトウ ハナ", "斎藤 花"), must=(), must_not=(NOTATION,)),
    row("trap_saito", "齊藤 実 is not 斎藤 実", *kanji("齊藤 実", "サイトウ ミノル", "斎藤 実"), must=(), must_not=(NOTATION,)),
    row("trap_saito", "斉藤 健 is not 齋藤 健", *kanji("斉藤 健", "サイトウ ケン", "齋藤 健"), must=(), must_not=(NOTATION,)),
    # --- traps: notation-like names but the birth date or sex differs --------------------------
    row("trap_birth_date", "髙橋 / 高橋, born a day apart", *kanji("髙橋 二郎", "タカハシ ジロウ", "高橋 二郎", birth_date="1961-02-03"), must=(), must_not=(NOTATION,)),
    row("trap_birth_date", "キヨウコ / キョウコ, another year", *kanji("中田 京子", "ナカタ キヨウコ", "中田 京子", "ナカタ キョウコ", birth_date="1975-06-07"), must=(), must_not=(NOTATION,)),
    row("trap_birth_date", "SANTOS JOSE order, another birth date", *alpha("JOSE RAMOS", "ジョセ ラモス", "RAMOS JOSE", "ラモス ジョセ", birth_date="1990-01-01"), must=(), must_not=(NOTATION,)),
    row("trap_birth_date", "〓 placeholder, another birth date", *kanji("〓野 薫", "ヨシノ カオル", "𠮷野 薫", birth_date="1959-09-09"), must=(), must_not=(NOTATION,)),
    row("trap_birth_date", "通称, another birth date", *kanji("金田 次郎", "カネダ ジロウ", "金 次郎", "キム ジロウ", alias_name="金田 次郎", birth_date="1966-06-16"), must=(), must_not=(NOTATION,)),
    row("trap_sex", "髙田 / 高田, the other sex", *kanji("髙田 薫", "タカダ カオル", "高田 薫", sex="other"), must=(), must_not=(NOTATION,)),
    row("trap_sex", "ﾐﾂﾙ half-width, the other sex", *kanji("三浦 満", "ﾐｳﾗ ﾐﾂﾙ", "三浦 満", "ミウラ ミツル", sex="other"), must=(), must_not=(NOTATION,)),
    row("trap_sex", "旧氏, the other sex", *kanji("小川 真", "オガワ マコト", "大川 真", "オオカワ マコト", former_surname="小川", sex="other"), must=(), must_not=(NOTATION,)),
    # --- traps: the address alone differs in notation: nothing at all ---------------------------
    row("trap_address", "1丁目2番3号 vs 1-2-3", *kanji("青木 一郎", "アオキ イチロウ", "青木 一郎", address="東京都千代田区神田1-2-3"),
        must=(), must_not=(NOTATION, *LINK_RULES)),
    row("trap_address", "大字 dropped", *kanji("石井 花子", "イシイ ハナコ", "石井 花子", address="茨城県つくば市大字小野崎123番地"),
        must=(), must_not=(NOTATION, *LINK_RULES)),
    row("trap_address", "full-width digits", *kanji("上田 進", "ウエダ ススム", "上田 進", address="東京都千代田区千代田１０２－１"),
        must=(), must_not=(NOTATION, *LINK_RULES)),
    row("trap_address", "a 居所 elsewhere in town", *kanji("森田 洋子", "モリタ ヨウコ", "森田 洋子", address="東京都千代田区神田5-5-5"),
        must=(), must_not=(NOTATION, *LINK_RULES)),
    row("trap_address", "番地 vs hyphen, building name added", *kanji("原 健一", "ハラ ケンイチ", "原 健一", address="東京都千代田区千代田105-1 メゾン101"),
        must=(), must_not=(NOTATION, *LINK_RULES)),
]

# The member side of the address traps holds the notation the registry does not.
_ADDRESS_MEMBER = {"1丁目2番3号 vs 1-2-3": "東京都千代田区神田1丁目2番3号", "大字 dropped": "茨城県つくば市小野崎123",
                   "full-width digits": "東京都千代田区千代田102-1", "番地 vs hyphen, building name added": "東京都千代田区千代田105番地1"}


def _sides(i: int, case: dict, prefix: str = "N") -> tuple[dict, dict]:
    base = person(i, prefix)
    resident = {**base, "resident_id": f"R-{prefix}{i}", **case["resident"]}
    member = {**base, "member_id": f"M-{prefix}{i}", **case["member"]}
    if resident.get("sex") == "other":
        resident["sex"] = 3 - base["sex"]
    # A birth date / sex / address the row changes is the registry's; the member keeps its own.
    if case["description"] in _ADDRESS_MEMBER:
        member["address"] = _ADDRESS_MEMBER[case["description"]]
    return member, resident


@pytest.fixture(scope="module")
def corpus_findings() -> pd.DataFrame:
    members, residents = [], []
    for i, case in enumerate(CASES):
        member, resident = _sides(i, case)
        members.append(member)
        residents.append(resident)
    return scan(members, residents)


def check(findings: pd.DataFrame, member_id: str, case: dict) -> list[str]:
    """What is wrong with ``member_id``'s findings against the row (empty: the row holds)."""
    got = raised(findings, member_id)
    problems = [f"{r} not raised" for r in sorted(case["must"] - got)]
    problems += [f"{r} raised" for r in sorted(case["must_not"] & got)]
    if not problems and case.get("reason") and NOTATION in case["must"]:
        evidence = json.loads(findings.loc[(findings["member_id"] == member_id)
                                           & (findings["rule_id"] == NOTATION), "evidence"].iloc[0])
        if case["reason"] not in evidence["reasons"] or (case.get("only") and evidence["reasons"] != [case["reason"]]):
            problems.append(f"reason {case['reason']} not among {evidence['reasons']}")
    return problems


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{c['kind']}: {c['description']}" for c in CASES])
def test_notation_case(corpus_findings, i):
    assert check(corpus_findings, f"M-N{i}", CASES[i]) == []


def test_every_notation_kind_has_five_examples():
    kinds = pd.Series([c["kind"] for c in CASES]).value_counts()
    assert kinds.min() >= 3 and (kinds[~kinds.index.str.startswith("trap_sex")] >= 5).all(), kinds.to_dict()


def corpus_pass_rate() -> tuple[int, int, list[str]]:
    """(passed, total, failures) for the benchmark's first line of evidence."""
    members, residents = [], []
    for i, case in enumerate(CASES):
        member, resident = _sides(i, case)
        members.append(member)
        residents.append(resident)
    findings = scan(members, residents)
    failures = [f"{c['kind']}: {c['description']}: {'; '.join(p)}"
                for i, c in enumerate(CASES) if (p := check(findings, f"M-N{i}", c))]
    return len(CASES) - len(failures), len(CASES), failures
