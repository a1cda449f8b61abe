//! Real ESPN scoreboards of every sport (and hand-made ones for what they
//! do not show), with exact expectations; see
//! `tests/fixtures/espn-sports/README.md` for where each comes from.

use super::*;
use crate::model::{Game, GameState, Situation};
use chrono::NaiveDate;

fn doc(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/espn-sports/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn board(name: &str) -> Board {
    parse(&doc(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn game<'b>(board: &'b Board, eid: &str) -> &'b Game {
    board.games.iter().find(|g| g.eid == eid).expect("game")
}

/// `AWAY a @ HOME h`, what a board shows.
fn line(g: &Game) -> String {
    format!(
        "{} {} @ {} {}",
        g.away.abbr, g.away.score, g.home.abbr, g.home.score
    )
}

/// State, period, label and clock: where a game stands.
fn at(g: &Game) -> (GameState, u8, Option<&str>, Option<&str>) {
    (
        g.state,
        g.period,
        g.period_label.as_deref(),
        g.clock.as_deref(),
    )
}

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

#[test]
fn nba_finals() {
    let b = board("nba-2024-12-15-final.json");
    assert_eq!((b.league.as_str(), b.sport), ("nba", Sport::Basketball));
    // No root season: the league's (2025, postseason: the NBA Cup), and
    // no `day`: the first game's day in US Eastern.
    assert_eq!((b.season, b.season_type.as_str()), (2025, "POST"));
    assert_eq!((b.week, b.date), (None, day("2024-12-15")));
    let g = game(&b, "401736810");
    assert_eq!(line(g), "NO 104 @ IND 119");
    assert_eq!(at(g), (GameState::Final, 4, Some("Q4"), None));
    assert_eq!(g.home.linescore.as_deref(), Some(&[31, 28, 40, 20][..]));
    assert_eq!(g.away.linescore.as_deref(), Some(&[28, 14, 38, 24][..]));
    assert_eq!(
        (g.season_type.as_str(), g.week, g.date),
        ("REG", None, day("2024-12-15"))
    );
    assert_eq!((g.quarter.as_str(), g.home.shootout), ("F", None));
    assert_eq!(line(game(&b, "401737912")), "DAL 143 @ GS 133");
    let json = serde_json::to_value(g).expect("json");
    assert!(
        json.get("week").is_none(),
        "a day league has no week: {json}"
    );
    assert_eq!(
        (json["league"].as_str(), json["sport"].as_str()),
        (Some("nba"), Some("basketball"))
    );
}

#[test]
fn nba_overtime_tenths_and_breaks() {
    let b = board("handmade-nba-overtime-tenths.json");
    let ot = game(&b, "900031");
    assert_eq!(at(ot), (GameState::FinalOvertime, 5, Some("OT"), None));
    assert_eq!(
        (
            ot.quarter.as_str(),
            ot.home.linescore.as_ref().map(Vec::len)
        ),
        ("FO", Some(5))
    );
    assert_eq!(
        at(game(&b, "900032")),
        (GameState::Live, 4, Some("Q4"), Some("00:45.3"))
    );
    assert_eq!(
        at(game(&b, "900033")),
        (GameState::Halftime, 2, Some("Half"), None)
    );
    assert_eq!(
        at(game(&b, "900034")),
        (GameState::Intermission, 1, Some("Q1"), None)
    );
}

#[test]
fn college_basketball_plays_halves() {
    let b = board("mens-college-basketball-2025-final-ot.json");
    assert_eq!(
        (b.league.as_str(), b.date),
        ("mens-college-basketball", day("2025-03-01"))
    );
    let g = game(&b, "401724905");
    assert_eq!(line(g), "FSU 65 @ DUKE 100");
    assert_eq!(at(g), (GameState::Final, 2, Some("2nd half"), None));
    let ot = game(&b, "401724907");
    assert_eq!(at(ot), (GameState::FinalOvertime, 3, Some("OT"), None));
    assert_eq!(ot.home.linescore.as_deref(), Some(&[38, 44, 19][..]));
}

#[test]
fn nhl_live_in_overtime_and_final() {
    let b = board("nhl-2025-06-04-live-overtime.json");
    assert_eq!(
        (b.league.as_str(), b.sport, b.date),
        ("nhl", Sport::Hockey, day("2025-06-04"))
    );
    let g = game(&b, "401777455");
    assert_eq!(line(g), "FLA 3 @ EDM 3");
    assert_eq!(at(g), (GameState::Overtime, 4, Some("OT"), Some("17:09")));
    assert_eq!(g.home.linescore.as_deref(), Some(&[1, 1, 1, 0][..]));
    assert_eq!(
        (g.quarter.as_str(), g.possession.as_deref(), g.situation),
        ("5", None, None)
    );
    let f = board("nhl-2024-final.json");
    let g = game(&f, "401672881");
    assert_eq!(
        (line(g), at(g)),
        (
            "NYR 1 @ FLA 2".into(),
            (GameState::Final, 3, Some("3rd"), None)
        )
    );
    assert_eq!((f.season, g.season_type.as_str()), (2024, "POST"));
}

#[test]
fn nhl_shootout_and_intermission() {
    let b = board("handmade-nhl-shootout-intermission.json");
    let so = game(&b, "900021");
    assert_eq!(at(so), (GameState::FinalShootout, 5, Some("SO"), None));
    assert_eq!(
        (so.home.score, so.home.shootout, so.away.shootout),
        (3, Some(2), Some(1))
    );
    assert_eq!(
        at(game(&b, "900022")),
        (GameState::Intermission, 2, Some("2nd"), None)
    );
    let ot = game(&b, "900023");
    assert_eq!(
        (at(ot), ot.home.shootout),
        ((GameState::FinalOvertime, 4, Some("OT"), None), None)
    );
}

#[test]
fn mlb_live_with_situation_and_finals() {
    let b = board("mlb-2025-06-04-live.json");
    assert_eq!(
        (b.league.as_str(), b.sport, b.date),
        ("mlb", Sport::Baseball, day("2025-06-04"))
    );
    let f = game(&b, "401695821");
    assert_eq!(line(f), "COL 3 @ MIA 2");
    assert_eq!(
        at(f),
        (GameState::Final, 9, Some("9th"), None),
        "9 innings: a plain final"
    );
    assert_eq!(
        f.away.linescore.as_deref(),
        Some(&[1, 0, 0, 0, 1, 1, 0, 0, 0][..])
    );
    // The home side did not bat in the 9th: eight innings.
    let pit = game(&b, "401695822");
    assert_eq!(pit.home.linescore.as_ref().map(Vec::len), Some(8));
    let live = game(&b, "401695826");
    assert_eq!(line(live), "DET 4 @ CHW 4");
    assert_eq!(at(live), (GameState::Live, 6, Some("Top 6th"), None));
    assert_eq!(
        live.situation,
        Some(Situation {
            balls: 0,
            strikes: 2,
            outs: 2,
            on_first: false,
            on_second: false,
            on_third: false
        })
    );
    assert_eq!(live.quarter.as_str(), "4");
    let mid = game(&b, "401695830");
    assert_eq!(at(mid), (GameState::Live, 4, Some("Mid 4th"), None));
    let pp = game(&b, "401695827");
    assert_eq!(at(pp), (GameState::Postponed, 0, None, None));
    assert_eq!(pp.quarter.as_str(), "P");
    assert!(f.situation.is_none(), "no count once it is over");
}

#[test]
fn mlb_suspended_extra_innings_and_no_root_season() {
    let b = board("mlb-2025-06-06-final.json");
    let s = game(&b, "401695844");
    assert_eq!(
        (s.state, s.period, s.quarter.as_str()),
        (GameState::Suspended, 7, "S")
    );
    let x = game(&b, "401695856");
    assert_eq!(line(x), "ATL 4 @ SF 5");
    assert_eq!(at(x), (GameState::FinalOvertime, 10, Some("10th"), None));
    assert_eq!(at(game(&b, "401695849")).0, GameState::Final);
    let raw = board("mlb-2025-no-root-season.json");
    assert_eq!(
        (raw.season, raw.season_type.as_str(), raw.date),
        (2025, "REG", day("2025-05-18"))
    );
    assert_eq!(
        at(game(&raw, "401695601")),
        (GameState::Live, 3, Some("End 3rd"), None)
    );
    // ESPN says period 1 before the first pitch; a game not begun is 0.
    assert_eq!(
        at(game(&raw, "401695602")),
        (GameState::Pregame, 0, None, None)
    );
}

#[test]
fn mlb_rain_delay_and_extra_innings_live() {
    let b = board("handmade-mlb-rain-delay-extra-innings.json");
    let rain = game(&b, "900041");
    assert_eq!(at(rain), (GameState::Delayed, 1, Some("Top 1st"), None));
    let x = game(&b, "900042");
    assert_eq!(at(x), (GameState::Overtime, 11, Some("Top 11th"), None));
    assert_eq!(
        x.situation,
        Some(Situation {
            balls: 3,
            strikes: 2,
            outs: 1,
            on_first: true,
            on_second: false,
            on_third: true
        })
    );
}

#[test]
fn premier_league_full_time_and_a_fixture() {
    let b = board("eng1-2025-05-25-full-time.json");
    assert_eq!((b.league.as_str(), b.sport), ("eng.1", Sport::Soccer));
    // Soccer's season type is a league-specific id (12654): not refused.
    assert_eq!(
        (b.season, b.season_type.as_str(), b.date),
        (2024, "REG", day("2025-05-25"))
    );
    let g = game(&b, "704649");
    assert_eq!(line(g), "LEI 0 @ BOU 2");
    assert_eq!(at(g), (GameState::Final, 2, Some("2nd half"), None));
    assert_eq!((g.home.linescore.clone(), g.home.shootout), (None, None));
    let draw = game(&b, "704652");
    assert_eq!(
        (line(draw), draw.state),
        ("CRY 1 @ LIV 1".into(), GameState::Final)
    );
    let mls = board("usa1-2025-06-01-fixture.json");
    let fixture = game(&mls, "727049");
    // No `status.period` before kick-off: period 0, no label, no clock.
    assert_eq!(at(fixture), (GameState::Pregame, 0, None, None));
    assert_eq!(
        (fixture.league.as_str(), fixture.date),
        ("usa.1", day("2025-06-01"))
    );
}

#[test]
fn soccer_live_minutes_and_a_bad_clock() {
    let b = board("handmade-eng1-live-stoppage-time.json");
    assert_eq!(
        at(game(&b, "900001")),
        (GameState::Live, 1, Some("1st half"), Some("45'+2'"))
    );
    assert_eq!(
        at(game(&b, "900002")),
        (GameState::Halftime, 1, Some("HT"), None)
    );
    assert_eq!(
        at(game(&b, "900003")),
        (GameState::Live, 2, Some("2nd half"), Some("67'"))
    );
    // `12:00` is no match minute: the game stays, without its clock.
    assert_eq!(
        at(game(&b, "900004")),
        (GameState::Live, 2, Some("2nd half"), None)
    );
}

#[test]
fn soccer_extra_time_penalties_and_abandoned() {
    let b = board("handmade-uefa-champions-extra-time-penalties.json");
    assert_eq!(b.league, "uefa.champions");
    assert_eq!(
        at(game(&b, "900011")),
        (GameState::Overtime, 3, Some("ET"), Some("105'+1'"))
    );
    let live_pens = game(&b, "900012");
    assert_eq!(at(live_pens), (GameState::Shootout, 5, Some("Pens"), None));
    assert_eq!(
        (live_pens.home.shootout, live_pens.away.shootout),
        (Some(3), Some(2))
    );
    let pens = game(&b, "900013");
    assert_eq!(at(pens), (GameState::FinalShootout, 5, Some("Pens"), None));
    let score = |g: &Game| (g.home.score, g.away.score, g.home.shootout, g.away.shootout);
    assert_eq!(
        score(pens),
        (1, 1, Some(4), Some(3)),
        "penalties are not goals"
    );
    assert_eq!(
        at(game(&b, "900014")),
        (GameState::FinalOvertime, 4, Some("ET"), None)
    );
    assert_eq!(game(&b, "900015").state, GameState::Abandoned);
    // A shoot-out score of 0 on a match without one is not a shoot-out.
    let ft = game(&b, "900016");
    assert_eq!((ft.state, ft.home.shootout), (GameState::Final, None));
}

#[test]
fn college_football_weeks_and_a_kickoff_to_be_decided() {
    let b = board("college-football-2025-week1-scheduled.json");
    assert_eq!(
        (b.league.as_str(), b.sport, b.week, b.date),
        ("college-football", Sport::Football, Some(1), None)
    );
    let g = game(&b, "401752677");
    assert_eq!(
        (line(g), g.kickoff_tbd, g.week),
        ("TEX 0 @ OSU 0".into(), false, Some(1))
    );
    let tbd = board("handmade-college-football-kickoff-tbd.json");
    let g = game(&tbd, "900051");
    assert!(g.kickoff_tbd);
    let json = serde_json::to_value(g).expect("json");
    assert_eq!(json["kickoff_tbd"], serde_json::json!(true));
    let json = serde_json::to_value(game(&b, "401752677")).expect("json");
    assert!(
        json.get("kickoff_tbd").is_none(),
        "absent while the time is set"
    );
}

#[test]
fn what_cannot_be_drawn_is_refused_naming_the_league() {
    let err = parse(&doc("golf-pga-2025-06-03.json")).expect_err("golf");
    assert!(
        matches!(&err, FeedError::Unsupported { league, .. } if league == "pga"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("espn: league pga: golf is not a sport"),
        "{err}"
    );
    let err = parse(&doc("handmade-ufc-bouts.json")).expect_err("ufc");
    assert!(
        err.to_string()
            .starts_with("espn: league ufc: mma is not a sport"),
        "{err}"
    );
    // Bouts between athletes under a sport livescore draws: still refused.
    let mut ufc: Value = serde_json::from_slice(&doc("handmade-ufc-bouts.json")).expect("json");
    ufc["leagues"][0]["uid"] = serde_json::json!("s:70~l:90");
    let err = parse(&serde_json::to_vec(&ufc).expect("json")).expect_err("athletes");
    let mut bad_key = ufc.clone();
    bad_key["leagues"][0]["slug"] = serde_json::json!("UFC 316/x");
    let key_err = parse(&serde_json::to_vec(&bad_key).expect("json")).expect_err("key");
    assert!(
        matches!(&key_err, FeedError::BadWeek { field, .. } if field == "leagues[0].slug"),
        "{key_err:?}"
    );
    assert_eq!(
        err.to_string(),
        "espn: league ufc: event 600051440: not a game between two teams (competitors are athletes)"
    );
}

#[test]
fn nfl_documents_gain_only_the_new_fields() {
    let b = parse(include_bytes!(
        "../../../../../tests/fixtures/espn-2015-w1-midday.json"
    ))
    .expect("midday");
    assert_eq!(
        (b.league.as_str(), b.sport, b.week, b.date),
        ("nfl", Sport::Football, Some(1), None)
    );
    let chi = game(&b, "405091300");
    assert_eq!(at(chi), (GameState::Live, 1, Some("Q1"), Some("04:53")));
    let json = serde_json::to_value(chi).expect("json");
    for absent in ["date", "kickoff_tbd", "situation"] {
        assert!(json.get(absent).is_none(), "{absent}: {json}");
    }
    assert_eq!(json["week"], serde_json::json!(1));
    assert_eq!(
        json["home"].as_object().map(|t| t.contains_key("shootout")),
        Some(false)
    );
}
