use super::*;

fn at(sport: Sport, phase: Phase, period: u8) -> (GameState, Option<String>, ClockUse) {
    at_half(sport, phase, period, None)
}

fn at_half(
    sport: Sport,
    phase: Phase,
    period: u8,
    half: Option<HalfInning>,
) -> (GameState, Option<String>, ClockUse) {
    let r = sport.read(&Moment {
        phase,
        period,
        regulation: sport.regulation_periods(),
        half,
    });
    (r.state, r.label, r.clock)
}

fn label(sport: Sport, phase: Phase, period: u8) -> Option<String> {
    at(sport, phase, period).1
}

const OVER: Phase = Phase::Over {
    shootout: false,
    extra_time: false,
};

#[test]
fn football_keeps_its_nfl_reading() {
    use GameState::*;
    let f = Sport::Football;
    assert_eq!(at(f, Phase::Scheduled, 0), (Pregame, None, ClockUse::Hide));
    assert_eq!(
        at(f, Phase::Playing, 3),
        (Live, Some("Q3".into()), ClockUse::Show)
    );
    assert_eq!(at(f, Phase::Playing, 5).0, Live, "NFL overtime stays live");
    assert_eq!(label(f, Phase::Playing, 6).as_deref(), Some("2OT"));
    assert_eq!(
        at(f, Phase::EndOfPeriod, 1),
        (Live, Some("Q1".into()), ClockUse::Zero)
    );
    assert_eq!(at(f, Phase::Halftime, 2).0, Halftime);
    assert_eq!(at(f, OVER, 4).0, Final);
    assert_eq!(
        at(f, OVER, 5),
        (FinalOvertime, Some("OT".into()), ClockUse::Hide)
    );
    assert_eq!(
        at(f, Phase::Postponed, 0),
        (Postponed, None, ClockUse::Hide)
    );
    assert_eq!(at(f, Phase::Delayed, 3).2, ClockUse::Show);
    assert_eq!(at(f, Phase::Delayed, 0).2, ClockUse::Hide);
}

#[test]
fn each_sport_names_its_periods() {
    let l = |s, p| label(s, Phase::Playing, p);
    assert_eq!(l(Sport::Basketball, 2).as_deref(), Some("Q2"));
    assert_eq!(l(Sport::Basketball, 5).as_deref(), Some("OT"));
    assert_eq!(l(Sport::Hockey, 2).as_deref(), Some("2nd"));
    assert_eq!(l(Sport::Hockey, 4).as_deref(), Some("OT"));
    assert_eq!(l(Sport::Soccer, 1).as_deref(), Some("1st half"));
    assert_eq!(l(Sport::Soccer, 2).as_deref(), Some("2nd half"));
    assert_eq!(l(Sport::Soccer, 3).as_deref(), Some("ET"));
    assert_eq!(l(Sport::Baseball, 7).as_deref(), Some("7th"));
    let top = at_half(Sport::Baseball, Phase::Playing, 7, Some(HalfInning::Top));
    assert_eq!(top.1.as_deref(), Some("Top 7th"));
    assert_eq!(top.2, ClockUse::Hide, "baseball has no clock");
    // College basketball plays halves when the feed says two periods.
    let halves = Sport::Basketball.read(&Moment {
        phase: Phase::Playing,
        period: 2,
        regulation: 2,
        half: None,
    });
    assert_eq!(halves.label.as_deref(), Some("2nd half"));
    for n in [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111] {
        let want = match n {
            1 => "1st",
            2 => "2nd",
            3 => "3rd",
            4 => "4th",
            11 => "11th",
            12 => "12th",
            13 => "13th",
            21 => "21st",
            22 => "22nd",
            101 => "101st",
            _ => "111th",
        };
        assert_eq!(ordinal(n), want);
    }
}

#[test]
fn breaks_overtime_and_shootouts_have_their_states() {
    use GameState::*;
    assert_eq!(at(Sport::Hockey, Phase::EndOfPeriod, 2).0, Intermission);
    assert_eq!(at(Sport::Basketball, Phase::EndOfPeriod, 1).0, Intermission);
    assert_eq!(at(Sport::Basketball, Phase::Halftime, 2).0, Halftime);
    assert_eq!(
        at(Sport::Soccer, Phase::Halftime, 1).1.as_deref(),
        Some("HT")
    );
    assert_eq!(at(Sport::Soccer, Phase::EndOfPeriod, 1).0, Halftime);
    assert_eq!(at(Sport::Soccer, Phase::EndOfPeriod, 2).0, Intermission);
    assert_eq!(at(Sport::Hockey, Phase::Playing, 4).0, Overtime);
    assert_eq!(at(Sport::Baseball, Phase::Playing, 10).0, Overtime);
    assert_eq!(
        at(Sport::Soccer, Phase::ExtraTime, 3),
        (Overtime, Some("ET".into()), ClockUse::Show)
    );
    assert_eq!(
        at(Sport::Soccer, Phase::Shootout, 5),
        (Shootout, Some("Pens".into()), ClockUse::Hide)
    );
    assert_eq!(
        at(Sport::Hockey, Phase::Shootout, 5).1.as_deref(),
        Some("SO")
    );
    let pens = Phase::Over {
        shootout: true,
        extra_time: false,
    };
    assert_eq!(
        at(Sport::Soccer, pens, 5),
        (FinalShootout, Some("Pens".into()), ClockUse::Hide)
    );
    assert_eq!(
        at(Sport::Hockey, pens, 5),
        (FinalShootout, Some("SO".into()), ClockUse::Hide)
    );
    assert_eq!(
        at(Sport::Baseball, OVER, 9),
        (Final, Some("9th".into()), ClockUse::Hide)
    );
    assert_eq!(at(Sport::Baseball, OVER, 10).0, FinalOvertime);
    assert_eq!(at(Sport::Soccer, OVER, 2).0, Final);
    assert_eq!(at(Sport::Soccer, OVER, 4).0, FinalOvertime);
    assert_eq!(at(Sport::Soccer, Phase::Abandoned, 2).0, Abandoned);
    let rain = at_half(
        Sport::Baseball,
        Phase::Delayed,
        1,
        HalfInning::find("Rain Delay, Top 1st"),
    );
    assert_eq!((rain.0, rain.1.as_deref()), (Delayed, Some("Top 1st")));
}

#[test]
fn clocks_fit_their_sport_or_are_refused() {
    let f = |shown| Sport::Football.clock(shown);
    assert_eq!(f("4:53").as_deref(), Some("04:53"));
    assert_eq!(f("15:00").as_deref(), Some("15:00"));
    assert_eq!((f("15:01"), f("45.3"), f("67'")), (None, None, None));
    let b = |shown| Sport::Basketball.clock(shown);
    assert_eq!(b("11:50").as_deref(), Some("11:50"));
    assert_eq!(b("45.3").as_deref(), Some("00:45.3"));
    assert_eq!(b("4.2").as_deref(), Some("00:04.2"));
    assert_eq!(b("0.0").as_deref(), Some("00:00.0"));
    assert_eq!((b("20:01"), b("61.0"), b("4.25")), (None, None, None));
    let h = |shown| Sport::Hockey.clock(shown);
    assert_eq!(h("17:09").as_deref(), Some("17:09"));
    assert_eq!(h("20:01"), None);
    let s = |shown| Sport::Soccer.clock(shown);
    for ok in ["67'", "0'", "45'+2'", "90'+10'", "120'", "45+2'"] {
        assert_eq!(s(ok).as_deref(), Some(ok), "{ok}");
    }
    for bad in ["67", "12:00", "'", "45'+", "45'+x'", "1234'"] {
        assert_eq!(s(bad), None, "{bad}");
    }
    assert_eq!(Sport::Baseball.clock("0:00"), None);
}

#[test]
fn the_scorestrip_quarter_of_every_sport() {
    use GameState::*;
    assert_eq!(quarter(Live, 3, 4).as_str(), "3");
    assert_eq!(quarter(Live, 6, 4).as_str(), "5");
    assert_eq!(quarter(Live, 7, 9).as_str(), "4");
    assert_eq!(quarter(Overtime, 10, 9).as_str(), "5");
    assert_eq!(quarter(Delayed, 0, 9).as_str(), "P");
    assert_eq!(quarter(FinalShootout, 5, 3).as_str(), "FO");
    assert_eq!(quarter(Intermission, 2, 3).as_str(), "2");
    assert_eq!("hockey".parse::<Sport>(), Ok(Sport::Hockey));
    let err = "golf".parse::<Sport>().expect_err("golf");
    assert!(err.to_string().contains("football, basketball"), "{err}");
}
