//! Scorestrip XML -> `Week`. Pure: bytes in, typed week or a `FeedError` out.
//!
//! This is the only place that knows the feed's spelling (`q="FO"`, `hs=""`,
//! `t="8:30"` meaning 8:30 PM Eastern). Everything after it sees typed
//! `Game`s, so a quirk of the feed is handled once, here, and never leaks to
//! clients. It does no I/O and keeps no state: the poller and the replay feed
//! it whole documents, the tracker diffs the results.
//!
//! Strict on what we publish, lenient on what we ignore: a value that would
//! reach a client (score, clock, kickoff, teams) must be well-formed or the
//! whole document is refused, because a scoreboard showing a wrong score is
//! worse than one showing the last good one. Attributes that are meaningless
//! in the game's current state (a stale clock on a final game) and unknown
//! attributes or elements are skipped, so harmless feed noise never blanks
//! the week.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use quick_xml::errors::SyntaxError;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{FeedError, Format};
use crate::model::{Game, Quarter, Sport, Team, Week, NFL};

/// Longest attribute value echoed back in an error, in characters: enough to
/// recognise the value, short enough that a hostile feed cannot flood logs.
const MAX_SHOWN_CHARS: usize = 40;

/// Parses one scorestrip document. All or nothing: a document with one bad
/// game is rejected whole, so clients never see a half-parsed week.
///
/// Never panics, whatever the bytes: the feed is someone else's server and a
/// poller that crashes on a bad response would take the scoreboard down.
pub fn parse(xml: &[u8]) -> Result<Week, FeedError> {
    let mut reader = Reader::from_reader(xml);
    // Element names still open, with the byte where each opened, so that a
    // truncated document can say where it was cut (quick-xml itself reports
    // EOF without complaint when elements are still open).
    let mut open: Vec<(String, u64)> = Vec::new();
    let mut week: Option<Week> = None;
    let mut games_seen: usize = 0;
    // Two games with one eid would make the tracker flip between them.
    let mut eids = HashSet::new();
    loop {
        let start = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => return Err(xml_error(&reader, &open, &err)),
        };
        let (tag, is_start) = match &event {
            Event::Start(tag) => (tag, true),
            Event::Empty(tag) => (tag, false),
            Event::End(_) => {
                // quick-xml already checked the end name matches.
                open.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = tag.name();
        let in_gms = open.last().is_some_and(|(parent, _)| parent == "gms");
        match name.as_ref() {
            b"gms" if week.is_some() => {
                return Err(FeedError::Syntax {
                    format: Format::Scorestrip,
                    position: start,
                    message: "a second <gms>: a document describes one week".into(),
                });
            }
            b"gms" => week = Some(parse_week(&Attrs::read(tag, start)?)?),
            b"g" if in_gms => {
                games_seen = games_seen.saturating_add(1);
                if let Some(week) = week.as_mut() {
                    let game = parse_game(&Attrs::read(tag, start)?, games_seen, week)?;
                    if !eids.insert(game.eid.clone()) {
                        return Err(FeedError::BadGame {
                            format: Format::Scorestrip,
                            game: game.eid,
                            field: "eid".into(),
                            problem: "appears on two games".into(),
                        });
                    }
                    week.games.push(game);
                }
            }
            _ => {}
        }
        if is_start {
            let name = String::from_utf8_lossy(name.as_ref());
            open.push((name.chars().take(MAX_SHOWN_CHARS).collect(), start));
        }
    }
    if let Some((name, opened)) = open.last() {
        return Err(FeedError::Syntax {
            format: Format::Scorestrip,
            position: reader.buffer_position(),
            message: format!("document ended inside <{name}> (opened at byte {opened})"),
        });
    }
    week.ok_or_else(|| FeedError::NoWeek {
        format: Format::Scorestrip,
        message: "no <gms> element: not a scorestrip document".into(),
    })
}

/// Turns a quick-xml error into ours. Its "not closed" syntax errors mean the
/// input stopped in the middle of some markup, so when an element is open
/// the message leads with where, which is what an operator looking at a cut
/// response needs.
fn xml_error(reader: &Reader<&[u8]>, open: &[(String, u64)], err: &quick_xml::Error) -> FeedError {
    let cut = matches!(err, quick_xml::Error::Syntax(e) if *e != SyntaxError::InvalidBangMarkup);
    let message = match open.last() {
        Some((name, _)) if cut => format!("document ended inside <{name}>: {err}"),
        _ => err.to_string(),
    };
    FeedError::Syntax {
        format: Format::Scorestrip,
        position: reader.error_position(),
        message,
    }
}

/// The attributes of one element, decoded and unescaped, in document order.
struct Attrs<'e> {
    pairs: Vec<(&'e [u8], Cow<'e, str>)>,
}

impl<'e> Attrs<'e> {
    /// Reads every attribute of `tag`, which began at byte `start`. A broken
    /// attribute is an XML error: quick-xml recovers from it, but we could
    /// not tell which value was meant.
    fn read(tag: &'e BytesStart<'e>, start: u64) -> Result<Self, FeedError> {
        let name = String::from_utf8_lossy(tag.name().into_inner()).into_owned();
        let mut pairs = Vec::new();
        for attr in tag.attributes() {
            let attr = attr.map_err(|err| attr_error(&name, start, &err))?;
            let value = attr.unescape_value().map_err(|err| FeedError::Syntax {
                format: Format::Scorestrip,
                position: start,
                message: format!(
                    "<{name}> attribute `{}`: {err}",
                    String::from_utf8_lossy(attr.key.as_ref())
                ),
            })?;
            pairs.push((attr.key.into_inner(), value));
        }
        Ok(Self { pairs })
    }

    /// The value of `key`, if present (empty values are `Some("")`).
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v.as_ref())
    }

    /// The value of `key`, or `None` when missing or empty: the feed uses an
    /// empty string for "not applicable".
    fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

/// An attribute syntax error, placed at its byte in the document rather than
/// quick-xml's offset into the tag.
fn attr_error(name: &str, start: u64, err: &AttrError) -> FeedError {
    let (offset, what) = match err {
        AttrError::ExpectedEq(p) => (p, "an attribute name must be followed by `=`"),
        AttrError::ExpectedValue(p) => (p, "`=` must be followed by a value"),
        AttrError::UnquotedValue(p) => (p, "an attribute value must be quoted"),
        AttrError::ExpectedQuote(p, _) => (p, "an attribute value is missing its closing quote"),
        AttrError::Duplicated(p, _) => (p, "an attribute appears twice"),
    };
    // +1 for the `<` that quick-xml's offsets do not count.
    let offset = u64::try_from(*offset).unwrap_or(u64::MAX).saturating_add(1);
    FeedError::Syntax {
        format: Format::Scorestrip,
        position: start.saturating_add(offset),
        message: format!("in <{name}>: {what}"),
    }
}

/// `"value"`, quoted and cut to [`MAX_SHOWN_CHARS`], for error messages.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(MAX_SHOWN_CHARS).collect();
    if cut.len() < value.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// `REG`, `PRE` or `POST` from the feed's spellings (`R`, `P` on `<gms>`,
/// the long forms on `<g gt>`).
fn season_type(value: &str) -> Option<&'static str> {
    match value {
        "R" | "REG" => Some("REG"),
        "P" | "PRE" => Some("PRE"),
        "POST" => Some("POST"),
        _ => None,
    }
}

/// Reads `<gms>` into an empty week.
fn parse_week(attrs: &Attrs) -> Result<Week, FeedError> {
    fn field<'a, T>(
        attrs: &'a Attrs,
        attr: &'static str,
        what: &str,
        read: impl Fn(&'a str) -> Option<T>,
    ) -> Result<T, FeedError> {
        let value = attrs.get(attr).ok_or_else(|| FeedError::BadWeek {
            format: Format::Scorestrip,
            field: attr.into(),
            problem: "is missing".into(),
        })?;
        read(value).ok_or_else(|| FeedError::BadWeek {
            format: Format::Scorestrip,
            field: attr.into(),
            problem: format!("is not {what}: {}", shown(value)),
        })
    }
    Ok(Week {
        league: NFL.into(),
        sport: Sport::Football,
        date: None,
        week: Some(field(attrs, "w", "a week number", number::<u8>)?),
        season: field(attrs, "y", "a season year", number::<u16>)?,
        season_type: field(attrs, "t", "a season type (R, P, POST)", season_type)?.into(),
        games: Vec::new(),
    })
}

/// An unsigned decimal number: digits only, so `+5`, ` 5` and `5.0` are
/// refused rather than guessed at.
fn number<T: std::str::FromStr>(value: &str) -> Option<T> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Reads one `<g>`, the `index`-th game (from 1) of `week`.
fn parse_game(attrs: &Attrs, index: usize, week: &Week) -> Result<Game, FeedError> {
    let eid = attrs.non_empty("eid").ok_or(FeedError::MissingId {
        format: Format::Scorestrip,
        index,
        label: String::new(),
        field: "eid",
    })?;
    let bad = |attr: &'static str, problem: String| FeedError::BadGame {
        format: Format::Scorestrip,
        game: eid.chars().take(MAX_SHOWN_CHARS).collect(),
        field: attr.into(),
        problem,
    };
    let required = |attr: &'static str| match attrs.get(attr) {
        None => Err(bad(attr, "is missing".into())),
        Some("") => Err(bad(attr, "is empty".into())),
        Some(value) => Ok(value),
    };

    let date = eid_date(eid).ok_or_else(|| {
        bad(
            "eid",
            format!("is not a YYYYMMDDNN game id: {}", shown(eid)),
        )
    })?;
    let q = required("q")?;
    let quarter: Quarter = q
        .parse()
        .map_err(|()| bad("q", format!("unknown quarter {}", shown(q))))?;
    let live = quarter.is_live();

    let score = |attr: &'static str| match attrs.get(attr).unwrap_or("") {
        "" if quarter == Quarter::Pregame => Ok(0),
        "" => Err(bad(
            attr,
            format!("is empty but the game has started (q={q:?})"),
        )),
        value => number(value).ok_or_else(|| bad(attr, format!("not a score: {}", shown(value)))),
    };
    let team = |abbr, nickname, points| -> Result<Team, FeedError> {
        Ok(Team::new(
            required(abbr)?,
            required(nickname)?,
            score(points)?,
        ))
    };
    let home = team("h", "hnn", "hs")?;
    let away = team("v", "vnn", "vs")?;

    let clock = match attrs.non_empty("k") {
        Some(k) if live => Some(clock(k).ok_or_else(|| {
            bad(
                "k",
                format!("is not a clock (MM:SS, at most 15:00): {}", shown(k)),
            )
        })?),
        _ => None,
    };
    let red_zone = match attrs.get("rz").unwrap_or("") {
        "1" => live,
        "0" | "" => false,
        other => return Err(bad("rz", format!("is not 0 or 1: {}", shown(other)))),
    };
    let time = required("t")?;
    let kickoff = kickoff(date, time).ok_or_else(|| {
        bad(
            "t",
            format!("is not a kickoff time (H:MM, US Eastern): {}", shown(time)),
        )
    })?;
    let season_type = match attrs.non_empty("gt") {
        None => week.season_type.clone(),
        Some(gt) => season_type(gt)
            .ok_or_else(|| {
                bad(
                    "gt",
                    format!("is not a game type (REG, PRE, POST): {}", shown(gt)),
                )
            })?
            .into(),
    };

    Ok(Game {
        eid: eid.into(),
        league: week.league.clone(),
        sport: week.sport,
        season: week.season,
        week: week.week,
        season_type,
        date: None,
        kickoff,
        kickoff_tbd: false,
        day: required("d")?.into(),
        time: time.into(),
        state: quarter.state(),
        period: quarter.moment().period,
        period_label: quarter.period_label(),
        quarter,
        clock,
        possession: attrs.non_empty("p").filter(|_| live).map(str::to_owned),
        red_zone,
        situation: None,
        home,
        away,
        details: None,
    })
}

/// The game's US Eastern date from an eid `YYYYMMDDNN`, or `None` when it is
/// not ten digits or not a real date.
fn eid_date(eid: &str) -> Option<NaiveDate> {
    if eid.len() != 10 || !eid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year = eid.get(0..4)?.parse().ok()?;
    let month = eid.get(4..6)?.parse().ok()?;
    let day = eid.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// `M:SS` or `MM:SS` within a quarter (at most 15:00), normalised to `MM:SS`
/// so clients can compare and display clocks without parsing them.
fn clock(k: &str) -> Option<String> {
    let (m, s) = k.split_once(':')?;
    if !(1..=2).contains(&m.len()) || s.len() != 2 {
        return None;
    }
    let (m, s): (u8, u8) = (number(m)?, number(s)?);
    (s < 60 && (m < 15 || (m == 15 && s == 0))).then(|| format!("{m:02}:{s:02}"))
}

/// Kickoff in UTC from the eid's Eastern date and the feed's 12-hour time.
///
/// The feed has no AM/PM. NFL kickoffs run from 9:30 AM (London) to 10:20 PM
/// (a Monday late game), so 9 is morning, 12 is noon and every other hour is
/// afternoon or evening. The offset comes from the tz database, so games on
/// either side of the November DST change land right.
fn kickoff(date: NaiveDate, t: &str) -> Option<DateTime<Utc>> {
    let (h, m) = t.split_once(':')?;
    if !(1..=2).contains(&h.len()) || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (number(h)?, number(m)?);
    let hour = match h {
        9 | 12 => h,
        1..=8 | 10 | 11 => h + 12,
        _ => return None,
    };
    let local = date.and_hms_opt(hour, m, 0)?;
    // Kickoff hours are never in the 1-3 AM DST gap or overlap; `earliest`
    // still gives a defined answer if a feed ever claims one.
    let eastern = New_York.from_local_datetime(&local).earliest()?;
    Some(eastern.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GameState;
    use proptest::prelude::*;

    const PREGAME: &[u8] = include_bytes!("../../../../tests/fixtures/ss-2015-w1-pregame.xml");
    const MIDDAY: &[u8] = include_bytes!("../../../../tests/fixtures/ss-2015-w1-midday.xml");
    const FINAL: &[u8] = include_bytes!("../../../../tests/fixtures/ss-2015-w1-final.xml");

    fn official() -> Vec<serde_json::Value> {
        let week: serde_json::Value =
            serde_json::from_str(include_str!("../../data/nfl-2015-week1.json")).expect("json");
        week["games"].as_array().expect("games").clone()
    }

    fn game<'w>(week: &'w Week, eid: &str) -> &'w Game {
        week.games.iter().find(|g| g.eid == eid).expect("game")
    }

    /// `HOME hs AWAY vs`, as a scoreboard shows it.
    fn line(g: &Game) -> String {
        format!(
            "{} {} {} {}",
            g.home.abbr, g.home.score, g.away.abbr, g.away.score
        )
    }

    /// A document with one valid live game, `attrs` overriding its defaults.
    fn one(attrs: &str) -> Result<Week, FeedError> {
        let defaults = "eid=2015091300 d=Sun t=1:00 q=2 k=2:36 h=CHI hnn=bears hs=10 \
                        v=GB vnn=packers vs=7 p=CHI rz=1";
        let mut g = String::new();
        for pair in defaults.split(' ') {
            let key = pair.split('=').next().unwrap_or_default();
            if !format!(" {attrs}").contains(&format!(" {key}=")) {
                g += &pair.replacen('=', "=\"", 1);
                g += "\" ";
            }
        }
        parse(format!(r#"<ss><gms w="1" y="2015" t="R"><g {g}{attrs}/></gms></ss>"#).as_bytes())
    }

    fn bad_attr(attrs: &str) -> String {
        match one(attrs) {
            Err(FeedError::BadGame { field, .. }) => field,
            other => panic!("{attrs}: expected BadGame, got {other:?}"),
        }
    }

    #[test]
    fn pregame_has_sixteen_games_not_started() {
        let week = parse(PREGAME).expect("pregame parses");
        assert_eq!(
            (week.season, week.week, week.season_type.as_str()),
            (2015, Some(1), "REG")
        );
        assert_eq!(week.games.len(), 16);
        for g in &week.games {
            assert_eq!(
                (g.state, g.home.score, g.away.score),
                (GameState::Pregame, 0, 0)
            );
            assert_eq!((&g.clock, &g.possession, g.red_zone), (&None, &None, false));
            assert_eq!(
                (g.season, g.week, g.season_type.as_str()),
                (2015, Some(1), "REG")
            );
        }
    }

    #[test]
    fn midday_shows_live_games_with_clock_and_possession() {
        let week = parse(MIDDAY).expect("midday parses");
        assert_eq!(week.games.len(), 16);
        let count = |s| week.games.iter().filter(|g| g.state == s).count();
        assert_eq!(
            [GameState::Final, GameState::Live, GameState::Pregame].map(count),
            [1, 7, 8]
        );
        let chi = game(&week, "2015091300");
        assert_eq!(line(chi), "CHI 10 GB 10");
        assert_eq!((chi.quarter.as_str(), chi.state), ("2", GameState::Live));
        assert_eq!(chi.clock.as_deref(), Some("02:36"));
        assert_eq!(chi.possession.as_deref(), Some("CHI"));
        let thu = game(&week, "2015091000");
        assert_eq!(
            (line(thu), thu.state, &thu.clock),
            ("NE 28 PIT 21".into(), GameState::Final, &None)
        );
    }

    #[test]
    fn final_matches_the_official_results() {
        let week = parse(FINAL).expect("final parses");
        let official = official();
        assert_eq!((week.games.len(), official.len()), (16, 16));
        for (g, o) in week.games.iter().zip(&official) {
            let (h, v) = (&o["home"], &o["away"]);
            let want = format!("{} {} {} {}", h["abbr"], h["final"], v["abbr"], v["final"]);
            assert_eq!(
                (line(g), g.eid.as_str()),
                (want.replace('"', ""), o["eid"].as_str().expect("eid"))
            );
            assert_eq!(
                g.quarter.as_str(),
                o["final_quarter"].as_str().expect("final_quarter")
            );
            assert!(matches!(
                g.state,
                GameState::Final | GameState::FinalOvertime
            ));
            assert_eq!((&g.clock, &g.possession), (&None, &None));
        }
        let ot: Vec<_> = week
            .games
            .iter()
            .filter(|g| g.state == GameState::FinalOvertime)
            .collect();
        assert_eq!(
            ot.iter().map(|g| line(g)).collect::<Vec<_>>(),
            ["STL 34 SEA 31"]
        );
        assert_eq!(line(game(&week, "2015091401")), "SF 20 MIN 3");
    }

    #[test]
    fn every_kickoff_matches_the_schedule_in_utc() {
        let week = parse(PREGAME).expect("pregame parses");
        for o in official() {
            let g = game(&week, o["eid"].as_str().expect("eid"));
            let want = o["kickoff"]
                .as_str()
                .expect("kickoff")
                .parse::<DateTime<Utc>>();
            assert_eq!(Ok(g.kickoff), want, "{} {} {}", g.eid, g.day, g.time);
        }
        assert_eq!(
            game(&week, "2015091000").kickoff.to_rfc3339(),
            "2015-09-11T00:30:00+00:00"
        );
        assert_eq!(
            game(&week, "2015091401").kickoff.to_rfc3339(),
            "2015-09-15T02:20:00+00:00"
        );
    }

    #[test]
    fn kickoff_hours_follow_the_nfl_day_and_dst() {
        let at = |eid: &str, t: &str| {
            let week = one(&format!("eid=\"{eid}\" t=\"{t}\"")).expect(t);
            week.games[0].kickoff.to_rfc3339()
        };
        assert_eq!(at("2015092700", "9:30"), "2015-09-27T13:30:00+00:00"); // London: morning
        assert_eq!(at("2015092700", "12:00"), "2015-09-27T16:00:00+00:00"); // noon
        assert_eq!(at("2015110800", "1:00"), "2015-11-08T18:00:00+00:00"); // EST after DST
        for t in [
            "13:00", "0:30", "1:60", "1:5", "100", "", "1:00 PM", "+1:00",
        ] {
            assert_eq!(bad_attr(&format!("t=\"{t}\"")), "t", "{t:?}");
        }
    }

    #[test]
    fn malformed_truncated_is_an_xml_error_at_the_cut() {
        let doc = include_bytes!("../../../../tests/fixtures/ss-malformed-truncated.xml");
        let cut_tag = doc.windows(3).rposition(|w| w == b"<g ").expect("<g") as u64;
        let err = parse(doc).expect_err("truncated");
        assert!(
            matches!(&err, FeedError::Syntax { position, message, .. }
                if *position == cut_tag && message.starts_with("document ended inside <gms>")),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with(&format!("scorestrip: malformed XML at byte {cut_tag}: ")));
        // Cut between elements: quick-xml sees a clean EOF; we still refuse.
        let end = FINAL
            .windows(6)
            .position(|w| w == b"</gms>")
            .expect("</gms>");
        let gms = FINAL.windows(4).position(|w| w == b"<gms").expect("<gms");
        let err = parse(&FINAL[..end]).expect_err("before </gms>").to_string();
        assert!(
            err.contains(&format!(
                "document ended inside <gms> (opened at byte {gms})"
            )),
            "{err}"
        );
        let err = parse(&FINAL[..end + 7])
            .expect_err("before </ss>")
            .to_string();
        assert!(err.contains("document ended inside <ss>"), "{err}");
    }

    #[test]
    fn malformed_games_name_the_game_and_attribute() {
        let bad = |doc: &[u8], want_eid: &str, want_attr: &str, display: &str| {
            let err = parse(doc).expect_err(display);
            assert!(
                matches!(&err, FeedError::BadGame { game, field, .. } if game == want_eid && field == want_attr),
                "{err:?}"
            );
            assert_eq!(err.to_string(), display);
        };
        bad(
            include_bytes!("../../../../tests/fixtures/ss-malformed-badscore.xml"),
            "2015091302",
            "hs",
            r#"scorestrip: game 2015091302: `hs` not a score: "abc""#,
        );
        bad(
            include_bytes!("../../../../tests/fixtures/ss-malformed-unknown-quarter.xml"),
            "2015091306",
            "q",
            r#"scorestrip: game 2015091306: `q` unknown quarter "Z""#,
        );
        let err = parse(include_bytes!(
            "../../../../tests/fixtures/ss-malformed-missing-eid.xml"
        ));
        let err = err.expect_err("missing eid");
        assert!(
            matches!(err, FeedError::MissingId { index: 6, .. }),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "scorestrip: game #6: missing `eid`");
    }

    #[test]
    fn game_attribute_rules() {
        let g = one("").expect("defaults").games.remove(0);
        assert_eq!(
            (g.clock.as_deref(), g.possession.as_deref(), g.red_zone),
            (Some("02:36"), Some("CHI"), true)
        );
        // Clock, possession and red zone mean nothing once the game is not live.
        let g = one(r#"q="H" k="junk""#).expect("halftime").games.remove(0);
        assert_eq!(
            (g.state, g.clock, g.possession, g.red_zone),
            (GameState::Halftime, None, None, false)
        );
        assert_eq!(one(r#"k="""#).expect("no clock").games[0].clock, None);
        assert_eq!(
            line(&one(r#"hs="" vs="" q="P""#).expect("pregame").games[0]),
            "CHI 0 GB 0"
        );
        assert_eq!(
            one(r#"hnn="a&amp;b""#).expect("escape").games[0]
                .home
                .nickname,
            "a&b"
        );
        assert_eq!(
            one(r#"gt="POST""#).expect("gt").games[0].season_type,
            "POST"
        );
        for (attrs, attr) in [
            (r#"eid="2015023000""#, "eid"),
            (r#"eid="201509130""#, "eid"),
            (r#"eid="20150913xx""#, "eid"),
            (r#"q="6""#, "q"),
            (r#"hs="""#, "hs"),
            (r#"vs="-3""#, "vs"),
            (r#"vs="70000""#, "vs"),
            (r#"k="15:01""#, "k"),
            (r#"k="2:60""#, "k"),
            (r#"k="236""#, "k"),
            (r#"rz="yes""#, "rz"),
            (r#"h="""#, "h"),
            (r#"vnn="""#, "vnn"),
            (r#"gt="X""#, "gt"),
        ] {
            assert_eq!(bad_attr(attrs), attr, "{attrs}");
        }
        let err = one(r#"hs="""#)
            .expect_err("empty score while live")
            .to_string();
        assert_eq!(
            err,
            r#"scorestrip: game 2015091300: `hs` is empty but the game has started (q="2")"#
        );
        assert!(matches!(
            one(r#"eid="""#),
            Err(FeedError::MissingId { index: 1, .. })
        ));
    }

    #[test]
    fn week_level_errors() {
        let week = |gms: &str| parse(format!("<?xml version=\"1.0\"?><ss>{gms}</ss>").as_bytes());
        let w = week(r#"<gms w="3" y="2016" t="P"/>"#).expect("empty week");
        assert_eq!(
            (w.season, w.week, w.season_type.as_str(), w.games.len()),
            (2016, Some(3), "PRE", 0)
        );
        assert!(matches!(week(""), Err(FeedError::NoWeek { .. })));
        assert!(matches!(parse(b""), Err(FeedError::NoWeek { .. })));
        assert!(matches!(
            week(r#"<gms y="2015" t="R"/>"#),
            Err(FeedError::BadWeek { field, .. }) if field == "w"
        ));
        assert!(matches!(
            week(r#"<gms w="1" y="x" t="R"/>"#),
            Err(FeedError::BadWeek { field, .. }) if field == "y"
        ));
        let err = week(r#"<gms w="1" y="2015" t="Q"/>"#)
            .expect_err("bad type")
            .to_string();
        assert_eq!(
            err,
            r#"scorestrip: week field `t` is not a season type (R, P, POST): "Q""#
        );
        let two = week(r#"<gms w="1" y="2015" t="R"/><gms w="2" y="2015" t="R"/>"#);
        assert!(matches!(two, Err(FeedError::Syntax { .. })));
        let dup = parse(br#"<ss><gms w="1" w="2"></gms></ss>"#);
        assert!(
            matches!(dup, Err(FeedError::Syntax { position: 15, .. })),
            "{dup:?}"
        );
        let twice = format!(
            "{0}{0}",
            r#"<g eid="2015091300" t="1:00" d="Sun" q="P" h="A" hnn="a" v="B" vnn="b"/>"#
        );
        let twice =
            week(&format!(r#"<gms w="1" y="2015" t="R">{twice}</gms>"#)).expect_err("twice");
        assert_eq!(
            twice.to_string(),
            "scorestrip: game 2015091300: `eid` appears on two games"
        );
        let nesting = parse(br#"<ss><gms w="1" y="2015" t="R"></ss>"#);
        assert!(
            matches!(nesting, Err(FeedError::Syntax { position: 30, .. })),
            "{nesting:?}"
        );
    }

    fn check_invariants(week: &Week) {
        for g in &week.games {
            assert_eq!(g.state, g.quarter.state());
            if !g.quarter.is_live() {
                assert!(g.clock.is_none() && g.possession.is_none() && !g.red_zone);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(week) = parse(&bytes) { check_invariants(&week) }
        }

        #[test]
        fn truncations_are_always_rejected(doc in 0..3usize, cut in any::<prop::sample::Index>()) {
            let doc = [PREGAME, MIDDAY, FINAL][doc];
            let end = doc.windows(5).position(|w| w == b"</ss>").expect("</ss>") + 5;
            prop_assert!(parse(&doc[..cut.index(end)]).is_err());
        }

        #[test]
        fn mutations_never_panic(
            doc in 0..3usize,
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
        ) {
            let mut doc = [PREGAME, MIDDAY, FINAL][doc].to_vec();
            for (at, byte, op) in edits {
                let i = at.index(doc.len());
                match op {
                    0 => doc[i] = byte,
                    1 => doc.insert(i, byte),
                    _ => { doc.remove(i); }
                }
            }
            if let Ok(week) = parse(&doc) { check_invariants(&week) }
        }
    }
}
