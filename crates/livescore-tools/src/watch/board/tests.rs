//! The board's exact wording: football's states on hand-built games (the
//! NFL's lines as they always were), every other sport's on real ESPN
//! documents parsed by the server's own parser
//! (`tests/fixtures/espn-sports/`, README there).

use super::*;
use chrono::{FixedOffset, Utc};
use livescore::feed::espn;
use livescore::model::{Board, GameState};

/// The padded, uncoloured board of one league, as the follow view draws it.
fn lines(games: &[Game], tz: &Utc, color: bool) -> Vec<String> {
    let style = Style {
        color,
        pad: true,
        linescore: false,
    };
    body(games, tz, style)
}

fn game(state: &str, quarter: &str, clock: Option<&str>, ball: Option<&str>) -> Game {
    serde_json::from_value(serde_json::json!({
        "eid": "2015091000", "season": 2015, "week": 1, "season_type": "REG",
        "kickoff": "2015-09-11T00:30:00Z", "day": "Thu", "time": "8:30",
        "state": state, "quarter": quarter, "clock": clock,
        "possession": ball, "red_zone": false,
        "home": {"abbr": "NE", "nickname": "patriots", "score": 28},
        "away": {"abbr": "PIT", "nickname": "steelers", "score": 21}
    }))
    .expect("a SPEC game")
}

#[test]
fn plain_lines_for_every_state() {
    let line = |g: &Game| Line::new(g, &Utc).plain();
    assert_eq!(
        line(&game("final", "F", None, None)),
        "PIT 21 @ NE 28  Final"
    );
    assert_eq!(
        line(&game("final_overtime", "FO", None, None)),
        "PIT 21 @ NE 28  Final OT"
    );
    assert_eq!(
        line(&game("live", "2", Some("05:11"), Some("NE"))),
        "PIT 21 @ NE 28  Q2 05:11  NE ball"
    );
    let mut rz = game("live", "5", Some("09:59"), Some("PIT"));
    rz.red_zone = true;
    assert_eq!(line(&rz), "PIT 21 @ NE 28  OT 09:59  PIT ball  RZ");
    assert_eq!(
        line(&game("halftime", "H", None, None)),
        "PIT 21 @ NE 28  Halftime"
    );
    assert_eq!(
        line(&game("pregame", "P", None, None)),
        "PIT 21 @ NE 28  kickoff Fri 00:30"
    );
    assert_eq!(
        line(&game("postponed", "P", None, None)),
        "PIT 21 @ NE 28  Postponed"
    );
    assert_eq!(
        line(&game("canceled", "P", None, None)),
        "PIT 21 @ NE 28  Canceled"
    );
    assert_eq!(
        line(&game("delayed", "P", None, None)),
        "PIT 21 @ NE 28  Delayed"
    );
    assert_eq!(
        line(&game("delayed", "3", Some("08:12"), None)),
        "PIT 21 @ NE 28  Delayed Q3 08:12"
    );
}

#[test]
fn kickoff_is_shown_in_the_given_zone() {
    let eastern = FixedOffset::west_opt(4 * 3600).expect("offset");
    let line = Line::new(&game("pregame", "P", None, None), &eastern);
    assert_eq!(line.status, "kickoff Thu 20:30");
    assert_eq!(line.kind, Kind::Pregame);
}

#[test]
fn board_aligns_statuses_and_colours_only_when_asked() {
    let mut other = game("final", "F", None, None);
    other.away.abbr = "GB".into();
    other.away.score = 7;
    let games = [game("final", "F", None, None), other];
    assert_eq!(
        lines(&games, &Utc, false),
        ["PIT 21 @ NE 28  Final", "GB   7 @ NE 28  Final"]
    );
    let coloured = lines(&games, &Utc, true);
    assert!(coloured[0].contains('\u{1b}'), "{coloured:?}");
    assert!(lines(&games, &Utc, false)
        .iter()
        .all(|l| !l.contains('\u{1b}')));
    assert_eq!(title(&games), "NFL 2015 week 1 (REG)");
    assert_eq!(title(&[]), "");
}

/// A fixture of `tests/fixtures/espn-sports/`, parsed as the server does.
fn fixture(name: &str) -> Board {
    let path = format!(
        "{}/../../tests/fixtures/espn-sports/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    espn::parse(&doc).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `--once` line of game `eid` of fixture `name`.
fn once(name: &str, eid: &str) -> String {
    Line::new(&game_of(name, eid), &Utc).plain()
}

/// Game `eid` of fixture `name`.
fn game_of(name: &str, eid: &str) -> Game {
    fixture(name)
        .games
        .into_iter()
        .find(|g| g.eid == eid)
        .unwrap_or_else(|| panic!("{name} has no game {eid}"))
}

#[test]
fn basketball_in_a_fans_words() {
    let f = "handmade-nba-overtime-tenths.json";
    assert_eq!(
        once("nba-2024-12-15-final.json", "401736810"),
        "NO 104 @ IND 119  Final"
    );
    assert_eq!(once(f, "900031"), "NO 115 @ IND 120  Final/OT");
    assert_eq!(once(f, "900032"), "NO 97 @ IND 99  Q4 0:45.3");
    assert_eq!(once(f, "900033"), "NO 48 @ IND 50  Halftime");
    assert_eq!(once(f, "900034"), "NO 22 @ IND 25  End Q1");
    let college = "mens-college-basketball-2025-final-ot.json";
    assert_eq!(once(college, "401724905"), "FSU 65 @ DUKE 100  Final");
    assert_eq!(once(college, "401724907"), "SYR 95 @ VT 101  Final/OT");
    // The live game, moved on: a clock as arenas show it.
    let mut g = game_of(f, "900032");
    (g.period, g.period_label, g.clock) = (3, Some("Q3".into()), Some("05:12".into()));
    assert_eq!(Line::new(&g, &Utc).status, "Q3 5:12");
    (g.state, g.period, g.period_label) = (GameState::Overtime, 6, Some("2OT".into()));
    g.clock = Some("00:04.2".into());
    assert_eq!(Line::new(&g, &Utc).status, "2OT 0:04.2");
    assert_eq!(Line::new(&g, &Utc).kind, Kind::Live);
    g.clock = Some("12:00".into());
    assert_eq!(Line::new(&g, &Utc).status, "2OT 12:00");
}

#[test]
fn hockey_in_a_fans_words() {
    assert_eq!(
        once("nhl-2025-06-04-live-overtime.json", "401777455"),
        "FLA 3 @ EDM 3  OT 17:09"
    );
    assert_eq!(
        once("nhl-2024-final.json", "401672881"),
        "NYR 1 @ FLA 2  Final"
    );
    let f = "handmade-nhl-shootout-intermission.json";
    // The shoot-out's goals are not in the score: after the status.
    assert_eq!(once(f, "900021"), "NYR 2 @ FLA 3  Final/SO (1-2)");
    assert_eq!(once(f, "900022"), "NYR 1 @ FLA 1  End 2nd");
    assert_eq!(once(f, "900023"), "NYR 3 @ FLA 2  Final/OT");
    let line = Line::new(&game_of(f, "900022"), &Utc);
    assert_eq!(line.kind, Kind::Paused);
    // A regulation period under way, and a shoot-out.
    let mut g = game_of(f, "900022");
    (g.state, g.clock) = (GameState::Live, Some("12:01".into()));
    assert_eq!(Line::new(&g, &Utc).status, "2nd 12:01");
    (g.state, g.period, g.period_label, g.clock) =
        (GameState::Shootout, 5, Some("SO".into()), None);
    (g.away.shootout, g.home.shootout) = (Some(1), Some(0));
    assert_eq!(Line::new(&g, &Utc).status, "SO (1-0)");
}

#[test]
fn baseball_in_a_fans_words() {
    let live = "mlb-2025-06-04-live.json";
    assert_eq!(
        once(live, "401695826"),
        "DET 4 @ CHW 4  Top 6th  2 outs  0-2"
    );
    assert_eq!(once(live, "401695830"), "NYM 3 @ LAD 0  Mid 4th");
    assert_eq!(once(live, "401695827"), "KC 0 @ STL 0  Postponed");
    assert_eq!(once(live, "401695821"), "COL 3 @ MIA 2  Final");
    let fin = "mlb-2025-06-06-final.json";
    assert_eq!(once(fin, "401695856"), "ATL 4 @ SF 5  Final/10");
    assert_eq!(once(fin, "401695844"), "ARI 3 @ CIN 3  Suspended 7th");
    let extra = "handmade-mlb-rain-delay-extra-innings.json";
    assert_eq!(once(extra, "900041"), "DET 0 @ CHW 0  Delayed Top 1st");
    assert_eq!(
        once(extra, "900042"),
        "DET 4 @ CHW 3  Top 11th  1 out  3-2  1B 3B"
    );
    let raw = "mlb-2025-no-root-season.json";
    assert_eq!(once(raw, "401695601"), "HOU 0 @ TEX 0  End 3rd");
    assert_eq!(
        once(raw, "401695602"),
        "MIN 0 @ MIL 0  first pitch Sun 18:10"
    );
}

#[test]
fn soccer_in_a_fans_words() {
    assert_eq!(
        once("eng1-2025-05-25-full-time.json", "704649"),
        "LEI 0 @ BOU 2  Final"
    );
    let live = "handmade-eng1-live-stoppage-time.json";
    assert_eq!(once(live, "900001"), "LEI 0 @ BOU 1  45'+2'");
    assert_eq!(once(live, "900002"), "LEI 0 @ BOU 0  HT");
    assert_eq!(once(live, "900003"), "LEI 1 @ BOU 2  67'");
    // No minute the feed could be trusted with: the half.
    assert_eq!(once(live, "900004"), "LEI 0 @ BOU 0  2nd half");
    let cup = "handmade-uefa-champions-extra-time-penalties.json";
    assert_eq!(once(cup, "900011"), "LEI 1 @ BOU 1  ET 105'+1'");
    assert_eq!(once(cup, "900012"), "LEI 2 @ BOU 2  Pens (2-3)");
    assert_eq!(once(cup, "900013"), "LEI 1 @ BOU 1  Final/Pens (3-4)");
    assert_eq!(once(cup, "900014"), "LEI 1 @ BOU 2  Final/AET");
    assert_eq!(once(cup, "900015"), "LEI 1 @ BOU 0  Abandoned");
    assert_eq!(once(cup, "900016"), "LEI 1 @ BOU 1  Final");
    assert_eq!(
        once("usa1-2025-06-01-fixture.json", "727049"),
        "MIN 0 @ SEA 0  kickoff Sun 22:00"
    );
}

#[test]
fn football_beyond_the_nfl_and_a_kickoff_to_be_decided() {
    let tbd = fixture("handmade-college-football-kickoff-tbd.json");
    assert_eq!(
        Line::new(&tbd.games[0], &Utc).plain(),
        "CARK 0 @ MIZ 0  TBD"
    );
    let week = fixture("college-football-2025-week1-scheduled.json");
    assert_eq!(
        Line::new(&week.games[1], &Utc).plain(),
        "TEX 0 @ OSU 0  kickoff Sat 16:00"
    );
    assert_eq!(title(&week.games), "College Football 2025 week 1 (REG)");
}

#[test]
fn every_line_keeps_its_score_fields() {
    for name in [
        "nba-2024-12-15-final.json",
        "handmade-nba-overtime-tenths.json",
        "handmade-nhl-shootout-intermission.json",
        "mlb-2025-06-04-live.json",
        "handmade-mlb-rain-delay-extra-innings.json",
        "handmade-uefa-champions-extra-time-penalties.json",
    ] {
        for g in fixture(name).games {
            let line = Line::new(&g, &Utc).plain();
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f[0], g.away.abbr, "{line}");
            assert_eq!(f[1].parse::<u16>().ok(), Some(g.away.score), "{line}");
            assert_eq!((f[2], f[3]), ("@", g.home.abbr.as_str()), "{line}");
            assert_eq!(f[4].parse::<u16>().ok(), Some(g.home.score), "{line}");
        }
    }
}

/// The board's body as `--once` prints it.
fn plain_body(games: &[Game], linescore: bool) -> Vec<String> {
    let style = Style {
        color: false,
        pad: false,
        linescore,
    };
    body(games, &Utc, style)
}

#[test]
fn day_leagues_show_their_date_and_several_leagues_get_headers() {
    let nba = fixture("nba-2024-12-15-final.json").games;
    let nhl = fixture("nhl-2025-06-04-live-overtime.json").games;
    assert_eq!(title(&nba), "NBA 2024-12-15");
    // One league: the game lines and nothing else.
    assert_eq!(
        plain_body(&nba, false),
        [
            "NO 104 @ IND 119  Final",
            "DAL 143 @ GS 133  Final",
            "MEM 110 @ LAL 116  Final"
        ]
    );
    let both: Vec<Game> = nba.iter().chain(&nhl).cloned().collect();
    assert_eq!(title(&both), "2 leagues · 1 live");
    assert_eq!(
        plain_body(&both, false),
        [
            "NBA 2024-12-15",
            "NO 104 @ IND 119  Final",
            "DAL 143 @ GS 133  Final",
            "MEM 110 @ LAL 116  Final",
            "",
            "NHL 2025-06-04 · 1 live",
            "FLA 3 @ EDM 3  OT 17:09",
            "",
        ]
    );
    let mut eng = fixture("eng1-2025-05-25-full-time.json").games;
    eng.truncate(1);
    let padded = body(
        &[eng, nhl].concat(),
        &Utc,
        Style {
            color: false,
            pad: true,
            linescore: false,
        },
    );
    assert_eq!(
        padded,
        [
            "Premier League 2025-05-25",
            "LEI 0 @ BOU 2  Final",
            "",
            "NHL 2025-06-04 · 1 live",
            "FLA 3 @ EDM 3  OT 17:09",
            "",
        ]
    );
}

#[test]
fn line_scores_per_period_inning_and_shootout() {
    let nba = fixture("handmade-nba-overtime-tenths.json");
    assert_eq!(
        plain_body(&nba.games[..1], true),
        [
            "NO 115 @ IND 120  Final/OT",
            "       1  2  3  4 OT   T",
            "  NO  28 30 26 23  8 115",
            "  IND 30 28 25 24 13 120",
        ]
    );
    let mlb = fixture("mlb-2025-06-04-live.json");
    let walk_off = mlb
        .games
        .iter()
        .find(|g| g.eid == "401695822")
        .expect("game");
    assert_eq!(
        plain_body(std::slice::from_ref(walk_off), true)[1..],
        [
            "      1 2 3 4 5 6 7 8 9 R",
            "  HOU 0 0 0 0 0 0 0 0 0 0",
            "  PIT 0 2 1 0 0 0 0 0 x 3",
        ]
    );
    let nhl = fixture("handmade-nhl-shootout-intermission.json");
    assert_eq!(
        plain_body(&nhl.games[..1], true)[1..],
        [
            "      1 2 3 OT SO T",
            "  NYR 0 2 0  0  1 2",
            "  FLA 1 1 0  0  2 3",
        ]
    );
    let college = fixture("mens-college-basketball-2025-final-ot.json");
    assert_eq!(
        plain_body(&college.games[1..], true)[1..],
        [
            "       1  2 OT   T",
            "  SYR 47 35 13  95",
            "  VT  38 44 19 101",
        ]
    );
    // No line score in the feed: the game's line alone.
    let eng = fixture("eng1-2025-05-25-full-time.json");
    assert_eq!(plain_body(&eng.games[..1], true), ["LEI 0 @ BOU 2  Final"]);
}
