//! `GameState`: the one field a client switches on, whatever the sport.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a game is in its life, whatever the sport: `pregame` (not
/// started); `live` (being played; football's overtime too); `halftime`
/// (football, basketball, soccer `HT`); `intermission` (between other
/// periods: hockey, a basketball quarter's end, before soccer's extra
/// time); `overtime` (basketball and hockey overtime, baseball's extra
/// innings, soccer's extra time); `shootout` (hockey's shoot-out, soccer's
/// penalties, under way); `final`; `final_overtime` (after overtime, extra
/// innings or extra time); `final_shootout` (decided by a shoot-out or
/// penalties); `suspended` (to be resumed later); `postponed`; `canceled`;
/// `delayed` (weather, a rain delay; before or during play); `abandoned`
/// (stopped for good, soccer). A status a feed adds later falls back on
/// the feed's own pre/in/post: `pregame`, `live`, `final` (or `suspended`
/// when the feed says it is over without a result).
///
/// Football keeps its original reading so NFL clients see what they always
/// did: its overtime is `live` (with `quarter` `5`) and the end of a
/// quarter is `live` at `00:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GameState {
    /// Not started yet.
    Pregame,
    /// Being played, within regulation (football: overtime too).
    Live,
    /// The break in the middle: football and basketball halftime, soccer's
    /// half-time (`HT`).
    Halftime,
    /// A break between periods other than halftime: hockey's
    /// intermissions, the end of a basketball quarter, the pause before
    /// soccer's extra time or penalties.
    Intermission,
    /// Being played beyond regulation: basketball and hockey overtime,
    /// baseball's extra innings, soccer's extra time (`ET`).
    Overtime,
    /// A shoot-out under way: hockey's (`SO`) or soccer's penalties (`Pens`).
    Shootout,
    /// Over after regulation (a soccer draw is a plain final).
    Final,
    /// Over after overtime, extra innings or extra time.
    FinalOvertime,
    /// Over, decided by a shoot-out or penalties (`home.shootout`,
    /// `away.shootout` hold its score).
    FinalShootout,
    /// Stopped by the league, to be resumed later (baseball's suspended
    /// games); also a status the feed says is over but not completed, which
    /// it has not named before.
    Suspended,
    /// Moved to another date before it started (ESPN `STATUS_POSTPONED`).
    Postponed,
    /// Called off; will not be played (ESPN `STATUS_CANCELED`).
    Canceled,
    /// Held up (weather, lightning; baseball's rain delays), before or
    /// during play; `period_label` says where it stands (ESPN
    /// `STATUS_DELAYED`, `STATUS_RAIN_DELAY`).
    Delayed,
    /// Begun but stopped for good, the result left to the league (soccer's
    /// abandoned matches, ESPN `STATUS_ABANDONED`).
    Abandoned,
}

impl GameState {
    /// True once nothing more will happen on the field today: a final of
    /// any kind, or a game that will not be played or finished.
    pub fn is_over(self) -> bool {
        matches!(
            self,
            GameState::Final
                | GameState::FinalOvertime
                | GameState::FinalShootout
                | GameState::Canceled
                | GameState::Abandoned
        )
    }

    /// True while the game is under way, playing or in a break: what makes
    /// a poller poll often.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            GameState::Live
                | GameState::Halftime
                | GameState::Intermission
                | GameState::Overtime
                | GameState::Shootout
                | GameState::Delayed
        )
    }
}
