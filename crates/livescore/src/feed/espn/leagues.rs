//! The leagues `espn:KEY` names, in one table: each one's sport, ESPN
//! path, display name and the query ESPN needs to list every game. Any
//! other ESPN league of the five sports is `espn:SPORT/LEAGUE`.

use crate::model::Sport;

/// One league ESPN serves a scoreboard for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct League {
    /// The key in `espn:KEY`, topics and URLs; ESPN's own slug, which is
    /// also what a document's `leagues[0].slug` says.
    pub key: &'static str,
    /// The league's sport.
    pub sport: Sport,
    /// What a page shows, e.g. `Premier League`.
    pub name: &'static str,
    /// Query parameters ESPN needs to list every game rather than a
    /// featured few (college boards list all Division I / FBS games only
    /// when asked for the group).
    pub query: &'static [(&'static str, &'static str)],
}

/// Every league `espn:KEY` knows, in the order errors list them.
pub const LEAGUES: &[League] = &[
    league("nfl", Sport::Football, "NFL", &[]),
    league(
        "college-football",
        Sport::Football,
        "College Football",
        &[("groups", "80")],
    ),
    league("nba", Sport::Basketball, "NBA", &[]),
    league("wnba", Sport::Basketball, "WNBA", &[]),
    league(
        "mens-college-basketball",
        Sport::Basketball,
        "Men's College Basketball",
        &[("groups", "50")],
    ),
    league(
        "womens-college-basketball",
        Sport::Basketball,
        "Women's College Basketball",
        &[("groups", "50")],
    ),
    league("nhl", Sport::Hockey, "NHL", &[]),
    league("mlb", Sport::Baseball, "MLB", &[]),
    league("eng.1", Sport::Soccer, "Premier League", &[]),
    league("esp.1", Sport::Soccer, "LaLiga", &[]),
    league("ger.1", Sport::Soccer, "Bundesliga", &[]),
    league("ita.1", Sport::Soccer, "Serie A", &[]),
    league("fra.1", Sport::Soccer, "Ligue 1", &[]),
    league("usa.1", Sport::Soccer, "MLS", &[]),
    league(
        "uefa.champions",
        Sport::Soccer,
        "UEFA Champions League",
        &[],
    ),
    league("uefa.europa", Sport::Soccer, "UEFA Europa League", &[]),
];

const fn league(
    key: &'static str,
    sport: Sport,
    name: &'static str,
    query: &'static [(&'static str, &'static str)],
) -> League {
    League {
        key,
        sport,
        name,
        query,
    }
}

/// The league `key` names in the table, if any.
pub fn find(key: &str) -> Option<&'static League> {
    LEAGUES.iter().find(|l| l.key == key)
}

/// What `espn:SPEC` resolves to: the league's key, sport, ESPN path
/// (`sport/league`), display name and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The league's key (ESPN's slug).
    pub key: String,
    /// Its sport.
    pub sport: Sport,
    /// What a page shows (the key itself for a league not in the table).
    pub name: String,
    /// Query parameters to add to the scoreboard URL.
    pub query: &'static [(&'static str, &'static str)],
}

impl Resolved {
    /// ESPN's path for the scoreboard: `basketball/nba`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.sport, self.key)
    }
}

/// Resolves `espn:SPEC`: a key of the table (`nba`), or `SPORT/LEAGUE`
/// for any ESPN league of the five sports (`soccer/ned.1`). A sport
/// livescore cannot draw is refused with the list of those it can.
pub fn resolve(spec: &str) -> Result<Resolved, String> {
    let known = |l: &League| Resolved {
        key: l.key.into(),
        sport: l.sport,
        name: l.name.into(),
        query: l.query,
    };
    if let Some(l) = find(spec) {
        return Ok(known(l));
    }
    let Some((sport, key)) = spec.split_once('/') else {
        let keys: Vec<String> = LEAGUES.iter().map(|l| format!("espn:{}", l.key)).collect();
        return Err(format!(
            "espn:{spec}: unknown ESPN league (known: {}; or espn:SPORT/LEAGUE)",
            keys.join(", ")
        ));
    };
    let sport: Sport = sport.parse().map_err(|e| format!("espn:{spec}: {e}"))?;
    let valid = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid {
        return Err(format!(
            "espn:{spec}: {key:?} is not an ESPN league (lower-case letters, digits, `.`, `-`)"
        ));
    }
    match find(key) {
        Some(l) if l.sport == sport => Ok(known(l)),
        Some(l) => Err(format!(
            "espn:{spec}: {key} is a {} league, not {sport}",
            l.sport
        )),
        None => Ok(Resolved {
            key: key.into(),
            sport,
            name: key.into(),
            query: &[],
        }),
    }
}

/// The zone whose calendar day a day board of `key` (a `sport` league)
/// is asked for (`dates=YYYYMMDD`); `None` for football, whose boards are
/// weeks. ESPN's day is US Eastern for American leagues; a European
/// soccer league's is its own (a 21:00 kick-off in Madrid is that day's).
pub fn day_zone(key: &str, sport: Sport) -> Option<chrono_tz::Tz> {
    use chrono_tz::{America, Europe};
    if sport == Sport::Football {
        return None;
    }
    let country = key.split('.').next().unwrap_or(key);
    Some(match (sport, country) {
        (Sport::Soccer, "eng" | "sco" | "wal") => Europe::London,
        (Sport::Soccer, "irl") => Europe::Dublin,
        (Sport::Soccer, "por") => Europe::Lisbon,
        (
            Sport::Soccer,
            "esp" | "ger" | "ita" | "fra" | "ned" | "bel" | "aut" | "sui" | "den" | "nor" | "swe"
            | "uefa",
        ) => Europe::Paris,
        _ => America::New_York,
    })
}

/// The sport of ESPN's numeric sport id (the `s:` of a `uid` such as
/// `s:40~l:46`); otherwise what to call the sport in an error (the ids
/// seen on golf, tennis and UFC boards are named).
pub(super) fn sport_of_id(id: u32) -> Result<Sport, String> {
    Ok(match id {
        20 => Sport::Football,
        40 => Sport::Basketball,
        70 => Sport::Hockey,
        1 => Sport::Baseball,
        600 => Sport::Soccer,
        1100 => return Err("golf".into()),
        850 => return Err("tennis".into()),
        3301 => return Err("mma".into()),
        other => return Err(format!("ESPN sport s:{other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_paths_and_refusals() {
        let nba = resolve("nba").expect("nba");
        assert_eq!(
            (nba.path(), nba.name.as_str()),
            ("basketball/nba".into(), "NBA")
        );
        let cbb = resolve("mens-college-basketball").expect("cbb");
        assert_eq!(cbb.query, &[("groups", "50")]);
        assert_eq!(
            resolve("college-football").expect("cfb").query,
            &[("groups", "80")]
        );
        let epl = resolve("soccer/eng.1").expect("by path");
        assert_eq!(
            (epl.key.as_str(), epl.name.as_str()),
            ("eng.1", "Premier League")
        );
        let ned = resolve("soccer/ned.1").expect("any soccer league");
        assert_eq!(
            (ned.path(), ned.sport),
            ("soccer/ned.1".into(), Sport::Soccer)
        );
        let err = resolve("golf/pga").expect_err("golf");
        assert!(
            err.contains("supported: football, basketball, hockey"),
            "{err}"
        );
        let err = resolve("cricket").expect_err("unknown key");
        assert!(
            err.contains("espn:nfl, espn:college-football, espn:nba"),
            "{err}"
        );
        assert!(resolve("hockey/nba").is_err());
        assert_eq!(day_zone("nfl", Sport::Football), None);
        assert_eq!(
            day_zone("nba", Sport::Basketball),
            Some(chrono_tz::America::New_York)
        );
        assert_eq!(
            day_zone("eng.1", Sport::Soccer),
            Some(chrono_tz::Europe::London)
        );
        assert_eq!(
            day_zone("uefa.champions", Sport::Soccer),
            Some(chrono_tz::Europe::Paris)
        );
        assert_eq!(
            day_zone("usa.1", Sport::Soccer),
            Some(chrono_tz::America::New_York)
        );
        assert!(resolve("soccer/A B").is_err());
        assert!(resolve("soccer/").is_err());
        for l in LEAGUES {
            assert_eq!(
                resolve(&format!("{}/{}", l.sport, l.key)).map(|r| r.key),
                Ok(l.key.into())
            );
        }
    }
}
