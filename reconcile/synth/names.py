"""氏名プール / name pools for the synthetic municipality.

Japanese names start from Faker's ``ja_JP`` person provider (kanji, katakana and romanised
triples, surnames weighted by frequency). Its pools are small (50 surnames, ~50 given names),
which would make same-name strangers far more common than in a real municipality, so a
supplement of common surnames and given names follows — including legitimately registered
variant-kanji surnames (髙橋, 渡邉, 𠮷田 …) and given names that share a reading with different
kanji (浩/博/弘 ヒロシ), the trap behind three-item look-ups (カナ氏名・生年月日・性別).

Foreign residents' names (Vietnamese, Chinese, Filipino, Brazilian, Korean, Nepali) are given
as (alphabet as on the residence card, katakana, kanji or ``None``).

Pools are loaded once (:func:`japanese_pools`, :func:`foreign_pools`) and sampled with numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# (kanji, katakana, romaji, relative weight) — frequencies scaled like Faker's (per ~1e5 people).
EXTRA_SURNAMES: tuple[tuple[str, str, str, float], ...] = (
    ("中野", "ナカノ", "Nakano", 50000), ("原田", "ハラダ", "Harada", 49000), ("小野", "オノ", "Ono", 48000),
    ("田村", "タムラ", "Tamura", 47000), ("竹内", "タケウチ", "Takeuchi", 46000), ("金子", "カネコ", "Kaneko", 45000),
    ("和田", "ワダ", "Wada", 44000), ("中山", "ナカヤマ", "Nakayama", 44000), ("石田", "イシダ", "Ishida", 43000),
    ("上田", "ウエダ", "Ueda", 43000), ("森田", "モリタ", "Morita", 42000), ("原", "ハラ", "Hara", 42000),
    ("柴田", "シバタ", "Shibata", 41000), ("酒井", "サカイ", "Sakai", 41000), ("工藤", "クドウ", "Kudo", 40000),
    ("横山", "ヨコヤマ", "Yokoyama", 40000), ("宮崎", "ミヤザキ", "Miyazaki", 39000), ("宮本", "ミヤモト", "Miyamoto", 39000),
    ("内田", "ウチダ", "Uchida", 38000), ("高木", "タカギ", "Takagi", 38000), ("安藤", "アンドウ", "Ando", 37000),
    ("谷口", "タニグチ", "Taniguchi", 36000), ("大野", "オオノ", "Ono", 36000), ("丸山", "マルヤマ", "Maruyama", 35000),
    ("今井", "イマイ", "Imai", 35000), ("高田", "タカダ", "Takada", 34000), ("藤本", "フジモト", "Fujimoto", 34000),
    ("武田", "タケダ", "Takeda", 33000), ("村田", "ムラタ", "Murata", 33000), ("上野", "ウエノ", "Ueno", 33000),
    ("杉山", "スギヤマ", "Sugiyama", 32000), ("増田", "マスダ", "Masuda", 32000), ("平野", "ヒラノ", "Hirano", 31000),
    ("大塚", "オオツカ", "Otsuka", 31000), ("千葉", "チバ", "Chiba", 31000), ("久保", "クボ", "Kubo", 30000),
    ("松井", "マツイ", "Matsui", 30000), ("小島", "コジマ", "Kojima", 30000), ("岩崎", "イワサキ", "Iwasaki", 29000),
    ("桜井", "サクライ", "Sakurai", 29000), ("野口", "ノグチ", "Noguchi", 29000), ("松尾", "マツオ", "Matsuo", 28000),
    ("野村", "ノムラ", "Nomura", 28000), ("木下", "キノシタ", "Kinoshita", 28000), ("菊地", "キクチ", "Kikuchi", 27000),
    ("佐野", "サノ", "Sano", 27000), ("大西", "オオニシ", "Onishi", 27000), ("杉本", "スギモト", "Sugimoto", 26000),
    ("新井", "アライ", "Arai", 26000), ("浜田", "ハマダ", "Hamada", 26000), ("菅原", "スガワラ", "Sugawara", 25000),
    ("市川", "イチカワ", "Ichikawa", 25000), ("水野", "ミズノ", "Mizuno", 25000), ("小松", "コマツ", "Komatsu", 24000),
    ("島田", "シマダ", "Shimada", 24000), ("古川", "フルカワ", "Furukawa", 24000), ("小山", "コヤマ", "Koyama", 24000),
    ("高野", "タカノ", "Takano", 23000), ("西田", "ニシダ", "Nishida", 23000), ("菊池", "キクチ", "Kikuchi", 23000),
    ("山内", "ヤマウチ", "Yamauchi", 23000), ("西川", "ニシカワ", "Nishikawa", 22000), ("五十嵐", "イガラシ", "Igarashi", 22000),
    ("北村", "キタムラ", "Kitamura", 22000), ("安田", "ヤスダ", "Yasuda", 22000), ("中田", "ナカタ", "Nakata", 21000),
    ("川口", "カワグチ", "Kawaguchi", 21000), ("平田", "ヒラタ", "Hirata", 21000), ("川崎", "カワサキ", "Kawasaki", 21000),
    ("飯田", "イイダ", "Iida", 21000), ("吉川", "ヨシカワ", "Yoshikawa", 20000), ("本田", "ホンダ", "Honda", 20000),
    ("久保田", "クボタ", "Kubota", 20000), ("沢田", "サワダ", "Sawada", 20000), ("辻", "ツジ", "Tsuji", 20000),
    ("関", "セキ", "Seki", 20000), ("吉村", "ヨシムラ", "Yoshimura", 19000), ("渡部", "ワタナベ", "Watanabe", 19000),
    ("岩田", "イワタ", "Iwata", 19000), ("中西", "ナカニシ", "Nakanishi", 19000), ("服部", "ハットリ", "Hattori", 19000),
    ("樋口", "ヒグチ", "Higuchi", 18000), ("福島", "フクシマ", "Fukushima", 18000), ("川上", "カワカミ", "Kawakami", 18000),
    ("永井", "ナガイ", "Nagai", 18000), ("松岡", "マツオカ", "Matsuoka", 18000), ("田口", "タグチ", "Taguchi", 18000),
    ("山中", "ヤマナカ", "Yamanaka", 17000), ("森本", "モリモト", "Morimoto", 17000), ("土屋", "ツチヤ", "Tsuchiya", 17000),
    ("矢野", "ヤノ", "Yano", 17000), ("広瀬", "ヒロセ", "Hirose", 17000), ("秋山", "アキヤマ", "Akiyama", 17000),
    ("石原", "イシハラ", "Ishihara", 17000), ("松下", "マツシタ", "Matsushita", 16000), ("大橋", "オオハシ", "Ohashi", 16000),
    ("松浦", "マツウラ", "Matsuura", 16000), ("吉岡", "ヨシオカ", "Yoshioka", 16000), ("小池", "コイケ", "Koike", 16000),
    ("馬場", "ババ", "Baba", 16000), ("浅野", "アサノ", "Asano", 15000), ("荒木", "アラキ", "Araki", 15000),
    ("大久保", "オオクボ", "Okubo", 15000), ("野田", "ノダ", "Noda", 15000), ("小沢", "オザワ", "Ozawa", 15000),
    ("堀", "ホリ", "Hori", 15000), ("堀田", "ホッタ", "Hotta", 9000),
    ("荻野", "オギノ", "Ogino", 8000), ("河野", "コウノ", "Kono", 14000), ("河野", "カワノ", "Kawano", 6000),
    ("東", "ヒガシ", "Higashi", 9000), ("東", "アズマ", "Azuma", 5000),
    # Variant kanji as legally registered (異体字・旧字体) — clean when both sides agree.
    ("髙橋", "タカハシ", "Takahashi", 9000), ("渡邉", "ワタナベ", "Watanabe", 9000), ("渡邊", "ワタナベ", "Watanabe", 6000),
    ("𠮷田", "ヨシダ", "Yoshida", 3000), ("山﨑", "ヤマサキ", "Yamasaki", 5000), ("齋藤", "サイトウ", "Saito", 9000),
    ("齊藤", "サイトウ", "Saito", 5000), ("澤田", "サワダ", "Sawada", 4000), ("廣瀬", "ヒロセ", "Hirose", 2500),
    ("濱田", "ハマダ", "Hamada", 3000), ("櫻井", "サクライ", "Sakurai", 3000), ("嶋田", "シマダ", "Shimada", 3000),
    ("冨田", "トミタ", "Tomita", 4000), ("富田", "トミタ", "Tomita", 8000), ("栁田", "ヤナギタ", "Yanagita", 800),
    ("柳田", "ヤナギタ", "Yanagita", 4000), ("國分", "コクブン", "Kokubun", 1200), ("国分", "コクブン", "Kokubun", 3000),
)

EXTRA_MALE: tuple[tuple[str, str, str], ...] = (
    ("博", "ヒロシ", "Hiroshi"), ("弘", "ヒロシ", "Hiroshi"), ("清", "キヨシ", "Kiyoshi"), ("茂", "シゲル", "Shigeru"),
    ("誠", "マコト", "Makoto"), ("隆", "タカシ", "Takashi"), ("崇", "タカシ", "Takashi"), ("勇", "イサム", "Isamu"),
    ("進", "ススム", "Susumu"), ("実", "ミノル", "Minoru"), ("豊", "ユタカ", "Yutaka"), ("正", "タダシ", "Tadashi"),
    ("勝", "マサル", "Masaru"), ("一郎", "イチロウ", "Ichiro"), ("健二", "ケンジ", "Kenji"), ("正雄", "マサオ", "Masao"),
    ("和夫", "カズオ", "Kazuo"), ("幸雄", "ユキオ", "Yukio"), ("昭", "アキラ", "Akira"), ("明", "アキラ", "Akira"),
    ("秀樹", "ヒデキ", "Hideki"), ("哲也", "テツヤ", "Tetsuya"), ("大輔", "ダイスケ", "Daisuke"), ("健太", "ケンタ", "Kenta"),
    ("拓也", "タクヤ", "Takuya"), ("大樹", "ダイキ", "Daiki"), ("翔", "ショウ", "Sho"), ("蓮", "レン", "Ren"),
    ("湊", "ミナト", "Minato"), ("陽翔", "ハルト", "Haruto"), ("大翔", "ヒロト", "Hiroto"), ("悠真", "ユウマ", "Yuma"),
    ("蒼", "アオイ", "Aoi"), ("樹", "イツキ", "Itsuki"), ("悠人", "ユウト", "Yuto"), ("優太", "ユウタ", "Yuta"),
    ("雄一", "ユウイチ", "Yuichi"), ("祐一", "ユウイチ", "Yuichi"), ("正一", "ショウイチ", "Shoichi"), ("昭一", "ショウイチ", "Shoichi"),
    ("浩二", "コウジ", "Koji"), ("幸二", "コウジ", "Koji"), ("孝", "タカシ", "Takashi"), ("剛", "ツヨシ", "Tsuyoshi"),
    ("徹", "トオル", "Toru"), ("亨", "トオル", "Toru"), ("智", "サトシ", "Satoshi"), ("聡", "サトシ", "Satoshi"),
    ("正樹", "マサキ", "Masaki"), ("雅樹", "マサキ", "Masaki"), ("信也", "シンヤ", "Shinya"), ("慎也", "シンヤ", "Shinya"),
    ("敏夫", "トシオ", "Toshio"), ("俊夫", "トシオ", "Toshio"), ("義雄", "ヨシオ", "Yoshio"), ("良雄", "ヨシオ", "Yoshio"),
    ("恭平", "キョウヘイ", "Kyohei"), ("省吾", "ショウゴ", "Shogo"), ("龍之介", "リュウノスケ", "Ryunosuke"), ("悠", "ユウ", "Yu"),
)

EXTRA_FEMALE: tuple[tuple[str, str, str], ...] = (
    ("恵子", "ケイコ", "Keiko"), ("京子", "キョウコ", "Kyoko"), ("恭子", "キョウコ", "Kyoko"), ("幸子", "サチコ", "Sachiko"),
    ("洋子", "ヨウコ", "Yoko"), ("節子", "セツコ", "Setsuko"), ("和子", "カズコ", "Kazuko"), ("久美子", "クミコ", "Kumiko"),
    ("由美子", "ユミコ", "Yumiko"), ("弘子", "ヒロコ", "Hiroko"), ("裕子", "ユウコ", "Yuko"), ("優子", "ユウコ", "Yuko"),
    ("智子", "トモコ", "Tomoko"), ("友子", "トモコ", "Tomoko"), ("順子", "ジュンコ", "Junko"), ("純子", "ジュンコ", "Junko"),
    ("美穂", "ミホ", "Miho"), ("真由美", "マユミ", "Mayumi"), ("由紀", "ユキ", "Yuki"), ("美紀", "ミキ", "Miki"),
    ("愛", "アイ", "Ai"), ("彩", "アヤ", "Aya"), ("綾", "アヤ", "Aya"), ("麻衣", "マイ", "Mai"),
    ("さくら", "サクラ", "Sakura"), ("陽菜", "ヒナ", "Hina"), ("結菜", "ユイナ", "Yuina"), ("凛", "リン", "Rin"),
    ("葵", "アオイ", "Aoi"), ("芽依", "メイ", "Mei"), ("紬", "ツムギ", "Tsumugi"), ("美咲", "ミサキ", "Misaki"),
    ("千尋", "チヒロ", "Chihiro"), ("恵美", "エミ", "Emi"), ("絵美", "エミ", "Emi"), ("恵", "メグミ", "Megumi"),
    ("めぐみ", "メグミ", "Megumi"), ("文子", "フミコ", "Fumiko"), ("キヨ", "キヨ", "Kiyo"), ("ハル", "ハル", "Haru"),
    ("典子", "ノリコ", "Noriko"), ("紀子", "ノリコ", "Noriko"), ("美智子", "ミチコ", "Michiko"), ("道子", "ミチコ", "Michiko"),
    ("直美", "ナオミ", "Naomi"), ("尚美", "ナオミ", "Naomi"), ("由香", "ユカ", "Yuka"), ("沙織", "サオリ", "Saori"),
    ("瑞穂", "ミズホ", "Mizuho"), ("翔子", "ショウコ", "Shoko"), ("祥子", "ショウコ", "Shoko"), ("静香", "シズカ", "Shizuka"),
)


@dataclass(frozen=True)
class NamePool:
    """Parallel arrays of one name pool (object arrays of str) with sampling probabilities."""
    kanji: np.ndarray
    kana: np.ndarray
    alpha: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return len(self.kanji)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(len(self.kanji), size=size, p=self.p)


def _pool(rows, weights=None) -> NamePool:
    rows = list(rows)
    kanji = np.array([r[0] for r in rows], dtype=object)
    kana = np.array([r[1] for r in rows], dtype=object)
    alpha = np.array([r[2] for r in rows], dtype=object)
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=float)
    return NamePool(kanji, kana, alpha, w / w.sum())


@dataclass(frozen=True)
class JapanesePools:
    surnames: NamePool
    male: NamePool
    female: NamePool


@lru_cache(maxsize=None)
def japanese_pools() -> JapanesePools:
    """Faker ja_JP name tuples plus the supplement, deduplicated, loaded once."""
    from faker.providers.person.ja_JP import Provider

    surnames: dict[tuple[str, str, str], float] = {}
    for triple, weight in Provider.last_name_pairs.items():
        surnames[tuple(triple)] = float(weight)
    for kanji, kana, alpha, weight in EXTRA_SURNAMES:
        key = (kanji, kana, alpha)
        surnames[key] = max(surnames.get(key, 0.0), float(weight))

    def given(base, extra):
        seen: dict[tuple[str, str], tuple[str, str, str]] = {}
        for triple in (*base, *extra):
            seen.setdefault((triple[0], triple[1]), tuple(triple))
        return list(seen.values())

    male = given(Provider.first_name_male_pairs, EXTRA_MALE)
    female = given(Provider.first_name_female_pairs, EXTRA_FEMALE)
    return JapanesePools(
        surnames=_pool(list(surnames), list(surnames.values())),
        male=_pool(male),
        female=_pool(female),
    )


# --- foreign residents (外国人住民) ---------------------------------------------------------
# nationality -> (weight, surnames, male given, female given); entries (alphabet, katakana, kanji|None)
FOREIGN: dict[str, tuple[float, tuple, tuple, tuple]] = {
    "VN": (0.27, (
        ("NGUYEN", "グエン", None), ("TRAN", "チャン", None), ("LE", "レ", None), ("PHAM", "ファム", None),
        ("HOANG", "ホアン", None), ("VU", "ヴー", None), ("DANG", "ダン", None), ("BUI", "ブイ", None),
    ), (
        ("VAN AN", "ヴァン アン", None), ("VAN DUC", "ヴァン ドゥック", None), ("MINH TUAN", "ミン トゥアン", None),
        ("QUANG HUY", "クアン フイ", None), ("THANH LONG", "タイン ロン", None), ("DUC MANH", "ドゥック マイン", None),
    ), (
        ("THI LAN", "ティ ラン", None), ("THI HOA", "ティ ホア", None), ("THI THU HUONG", "ティ トゥ フオン", None),
        ("NGOC ANH", "ゴック アイン", None), ("THI MAI", "ティ マイ", None), ("PHUONG THAO", "フオン タオ", None),
    )),
    "CN": (0.25, (
        ("WANG", "ワン", "王"), ("LI", "リ", "李"), ("ZHANG", "チャン", "張"), ("LIU", "リュウ", "劉"),
        ("CHEN", "チェン", "陳"), ("YANG", "ヤン", "楊"), ("ZHAO", "チャオ", "趙"), ("HUANG", "ホアン", "黄"),
    ), (
        ("WEI", "ウェイ", "偉"), ("HAO", "ハオ", "浩"), ("JUN", "ジュン", "軍"), ("YONG", "ヨン", "勇"),
        ("JIANGUO", "ジエングオ", "建国"), ("ZHIQIANG", "ジーチアン", "志強"),
    ), (
        ("FANG", "ファン", "芳"), ("JING", "ジン", "静"), ("LI NA", "リナ", "麗娜"), ("XIUYING", "シウイン", "秀英"),
        ("YAN", "イエン", "艶"), ("MEI", "メイ", "梅"),
    )),
    "PH": (0.15, (
        ("SANTOS", "サントス", None), ("REYES", "レイエス", None), ("CRUZ", "クルス", None), ("BAUTISTA", "バウティスタ", None),
        ("GARCIA", "ガルシア", None), ("MENDOZA", "メンドーサ", None), ("DELA CRUZ", "デラ クルス", None),
    ), (
        ("JOSE MARI", "ホセ マリ", None), ("MARK ANTHONY", "マーク アンソニー", None), ("JOHN PAUL", "ジョン ポール", None),
        ("RAMON", "ラモン", None),
    ), (
        ("MARIA CLARA", "マリア クララ", None), ("MARICEL", "マリセル", None), ("JOCELYN", "ジョセリン", None),
        ("ANGELICA", "アンジェリカ", None), ("ROSALIE", "ロザリー", None),
    )),
    "BR": (0.12, (
        ("SILVA", "シルバ", None), ("SANTOS", "サントス", None), ("OLIVEIRA", "オリベイラ", None), ("SOUZA", "ソウザ", None),
        ("PEREIRA", "ペレイラ", None), ("NAKAMURA", "ナカムラ", None), ("TANAKA", "タナカ", None),
    ), (
        ("JOAO PEDRO", "ジョアン ペドロ", None), ("LUCAS", "ルーカス", None), ("RAFAEL", "ハファエル", None),
        ("CARLOS EDUARDO", "カルロス エドゥアルド", None), ("MARCOS", "マルコス", None),
    ), (
        ("ANA PAULA", "アナ パウラ", None), ("JULIANA", "ジュリアナ", None), ("FERNANDA", "フェルナンダ", None),
        ("MARIANA", "マリアナ", None), ("PATRICIA", "パトリシア", None),
    )),
    "KR": (0.13, (
        ("KIM", "キム", "金"), ("LEE", "イ", "李"), ("PARK", "パク", "朴"), ("CHOI", "チェ", "崔"),
        ("JUNG", "チョン", "鄭"), ("KANG", "カン", "姜"),
    ), (
        ("MINJUN", "ミンジュン", "敏俊"), ("SEOJUN", "ソジュン", "瑞俊"), ("YOUNGSOO", "ヨンス", "英洙"),
        ("SUNGHO", "ソンホ", "成浩"), ("JIHOON", "ジフン", "智勲"),
    ), (
        ("SEOYEON", "ソヨン", "瑞妍"), ("MINJI", "ミンジ", "旻智"), ("JIYOUNG", "ジヨン", "智英"),
        ("YOUNGHEE", "ヨンヒ", "英姫"), ("SOOJIN", "スジン", "秀珍"),
    )),
    "NP": (0.08, (
        ("GURUNG", "グルン", None), ("SHRESTHA", "シュレスタ", None), ("TAMANG", "タマン", None), ("RAI", "ライ", None),
        ("THAPA", "タパ", None), ("MAGAR", "マガル", None),
    ), (
        ("RAM BAHADUR", "ラム バハドゥル", None), ("BISHNU", "ビシュヌ", None), ("SANJAY", "サンジャイ", None),
        ("KRISHNA", "クリシュナ", None),
    ), (
        ("SITA", "シタ", None), ("GITA", "ギタ", None), ("SUNITA", "スニタ", None), ("ANITA", "アニタ", None),
    )),
}


@dataclass(frozen=True)
class ForeignPool:
    nationality: str
    surnames: NamePool          # kanji column holds kanji or "" when none
    male: NamePool
    female: NamePool


@lru_cache(maxsize=None)
def foreign_pools() -> tuple[tuple[str, ...], np.ndarray, tuple[ForeignPool, ...]]:
    """(nationalities, their probabilities, pools) for foreign residents, loaded once."""
    codes = tuple(FOREIGN)
    weights = np.array([FOREIGN[c][0] for c in codes])
    pools = []
    for code in codes:
        _, sur, male, female = FOREIGN[code]
        as_rows = lambda rows: [(k or "", kana, alpha) for alpha, kana, k in rows]  # noqa: E731
        pools.append(ForeignPool(code, _pool(as_rows(sur)), _pool(as_rows(male)), _pool(as_rows(female))))
    return codes, weights / weights.sum(), tuple(pools)
