//! The terminal: what is drawn (`View`), how (`Screen`) and what the user
//! asks for (`Controls`: keys and signals).
//!
//! Plain ANSI redraw (cursor home, each line then clear-to-end-of-line,
//! then clear-below) on an alternate screen, not ratatui: the board is a
//! list of lines, so a widget toolkit would add a layout engine and a cell
//! diff for nothing. crossterm gives what must not be hand-written: raw
//! mode (so `q` quits without Enter) and key events as a stream.
//!
//! The terminal is restored on every exit path, panics included, by
//! [`Screen`]'s `Drop`. Raw mode only when stdin is a terminal; the
//! alternate screen and colours only when stdout is one. Piped, `watch`
//! prints each new board as plain lines and each change of connection.

use std::io::{IsTerminal, Stdout, Write};

use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::style::Stylize;
use crossterm::{cursor, execute, terminal};
use futures::StreamExt;

use super::board;
use super::league::Filter;
use livescore::model::Game;

/// What the status line says about the connection.
pub(super) enum Status {
    Connecting,
    Connected,
    /// Waiting `secs` more before reconnecting, after `why`.
    Waiting {
        secs: u64,
        why: String,
    },
}

/// Everything drawn.
pub(super) struct View {
    /// The server, as the user gave it.
    pub(super) url: String,
    /// The board, as the last `update` had it.
    pub(super) games: Vec<Game>,
    /// A board has come: until then an empty `games` says nothing about
    /// which leagues the server has.
    pub(super) loaded: bool,
    /// The connection.
    pub(super) status: Status,
    /// What the next connection sends as `Last-Event-ID`.
    pub(super) last_id: Option<String>,
    /// A one-off remark, e.g. that the history was reset.
    pub(super) note: Option<String>,
    /// `q` works (stdin is a terminal in raw mode).
    pub(super) keys: bool,
    /// The leagues shown (`--league`); `games` keeps the whole board, so
    /// a patch always applies to what the server sent.
    pub(super) leagues: Filter,
    /// Line scores under the games (`--linescore`, `l`).
    pub(super) linescore: bool,
}

impl View {
    /// The board's lines as drawn: the chosen leagues' games, then what
    /// `--league` asked for that the board does not have.
    fn board(&self, color: bool, pad: bool) -> (String, Vec<String>) {
        let games = self.leagues.select(&self.games);
        let style = board::Style {
            color,
            pad,
            linescore: self.linescore,
        };
        let mut lines = board::body(&games, &chrono::Local, style);
        if let Some(missing) = self.leagues.missing(&self.games).filter(|_| self.loaded) {
            lines.push(format!("{missing}; waiting for its games"));
        }
        (board::title(&games), lines)
    }

    /// The connection at a glance, for the start of the status line.
    fn dot(&self) -> String {
        match &self.status {
            Status::Connecting => "…".yellow().to_string(),
            Status::Connected => "●".green().to_string(),
            Status::Waiting { .. } => "○".red().to_string(),
        }
    }

    pub(super) fn status_line(&self) -> String {
        let mut line = match &self.status {
            Status::Connecting => format!("connecting to {}", self.url),
            Status::Connected => format!("live from {}", self.url),
            Status::Waiting { secs, why } => format!("{why}; reconnecting in {secs}s"),
        };
        if let Some(id) = &self.last_id {
            line.push_str(&format!("  · last event {id}"));
        }
        if let Some(note) = &self.note {
            line.push_str(&format!("  · {note}"));
        }
        if self.keys {
            line.push_str("  · l line scores  · q quits");
        }
        line
    }
}

/// What the user asked for.
pub(super) enum Input {
    Quit,
    Redraw,
    /// `l`: line scores on or off.
    ToggleLinescore,
}

/// Keys (when stdin is a terminal) and signals.
pub(super) struct Controls {
    keys: Option<EventStream>,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Controls {
    pub(super) fn new(keys: bool) -> std::io::Result<Controls> {
        #[cfg(unix)]
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Controls {
            keys: keys.then(EventStream::new),
            #[cfg(unix)]
            interrupt: signal(SignalKind::interrupt())?,
            #[cfg(unix)]
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next thing to act on. Cancel-safe: every branch is.
    pub(super) async fn next(&mut self) -> Input {
        loop {
            // Disjoint borrows: each async block below takes one field.
            let keys = &mut self.keys;
            #[cfg(unix)]
            let (interrupt, terminate) = (&mut self.interrupt, &mut self.terminate);
            let key = async {
                match keys {
                    Some(keys) => keys.next().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(unix)]
            let signal = async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            };
            #[cfg(not(unix))]
            let signal = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let event = tokio::select! {
                // Ctrl-C without raw mode, or SIGTERM.
                () = signal => return Input::Quit,
                // A key press or a terminal resize.
                event = key => event,
            };
            match event {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    let ctrl_c = key.code == KeyCode::Char('c')
                        && key.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c || matches!(key.code, KeyCode::Char('q' | 'Q') | KeyCode::Esc) {
                        return Input::Quit;
                    }
                    if matches!(key.code, KeyCode::Char('l' | 'L')) {
                        return Input::ToggleLinescore;
                    }
                }
                Some(Ok(Event::Resize(..))) => return Input::Redraw,
                Some(Ok(_)) => {}
                // stdin is gone: signals still work.
                Some(Err(_)) | None => self.keys = None,
            }
        }
    }
}

/// The terminal, in whatever mode `watch` put it; `Drop` puts it back.
pub(super) struct Screen {
    out: Stdout,
    /// stdout is a terminal: redraw in place, colours allowed.
    tty: bool,
    color: bool,
    /// Raw mode is on (stdin is a terminal), so keys work.
    pub(super) raw: bool,
    /// Piped output: what was printed last, so only changes are printed.
    printed: (Vec<String>, String),
}

impl Screen {
    pub(super) fn open(color: bool) -> std::io::Result<Screen> {
        let out = std::io::stdout();
        let tty = out.is_terminal();
        let mut screen = Screen {
            out,
            tty,
            color: color && tty,
            raw: false,
            printed: Default::default(),
        };
        if std::io::stdin().is_terminal() {
            terminal::enable_raw_mode()?;
            screen.raw = true;
        }
        if tty {
            execute!(screen.out, terminal::EnterAlternateScreen, cursor::Hide)?;
        }
        Ok(screen)
    }

    pub(super) fn draw(&mut self, view: &View) -> std::io::Result<()> {
        let (title, lines) = view.board(self.color, true);
        if !self.tty {
            return self.print_changes(view, title, lines);
        }
        let mut frame = String::from("\x1b[H");
        let mut push = |line: &str| {
            frame.push_str(line);
            frame.push_str("\x1b[K\r\n");
        };
        if self.color {
            push(&title.bold().to_string());
        } else {
            push(&title);
        }
        push("");
        for line in &lines {
            push(line);
        }
        push("");
        // Cut to the width: a wrapped last line would scroll the screen.
        let cols = terminal::size().map_or(80, |(cols, _)| usize::from(cols));
        let status: String = view
            .status_line()
            .chars()
            .take(cols.saturating_sub(3))
            .collect();
        if self.color {
            frame.push_str(&view.dot());
            frame.push(' ');
        }
        frame.push_str(&status);
        frame.push_str("\x1b[K\x1b[J");
        self.out.write_all(frame.as_bytes())?;
        self.out.flush()
    }

    /// Piped: the board when it changed, the status when it changed
    /// (ignoring the countdown), as plain lines a log can keep.
    fn print_changes(
        &mut self,
        view: &View,
        title: String,
        lines: Vec<String>,
    ) -> std::io::Result<()> {
        let mut status = view.status_line();
        if let Status::Waiting { secs, .. } = &view.status {
            status = status.replacen(&format!(" in {secs}s"), "", 1);
        }
        let mut text = String::new();
        if lines != self.printed.0 {
            text.push_str(&title);
            text.push('\n');
            for line in &lines {
                text.push_str(line);
                text.push('\n');
            }
            text.push('\n');
            self.printed.0 = lines;
        }
        if status != self.printed.1 && !matches!(view.status, Status::Connected) {
            text.push_str(&status);
            text.push('\n');
        }
        self.printed.1 = status;
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // Best effort: nothing useful is left to do if these fail.
        if self.tty {
            let _ = execute!(self.out, cursor::Show, terminal::LeaveAlternateScreen);
        }
        if self.raw {
            let _ = terminal::disable_raw_mode();
        }
    }
}
