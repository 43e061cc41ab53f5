//! Terminal styling: decides whether colour is on (flag, TTY, `NO_COLOR`) and
//! paints already-laid-out text with ANSI codes.
//!
//! Owns the colour policy and the escape codes only. It must not decide layout:
//! callers pad cells first and paint afterwards, so escape codes never skew
//! column widths.

use vigil_proto::v1::{Certainty, HealthState, Outcome, Side};

/// The user's `--color` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always colour, even into a pipe and despite `NO_COLOR` (an explicit flag wins).
    Always,
    /// Never colour.
    Never,
}

/// How a piece of text is painted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Plain,
    /// The colour of a health state: green, yellow, red, grey.
    State(HealthState),
    Outcome(Outcome),
    /// The owner side of a fault: platform and workload in distinct colours,
    /// so the answer to "is it us?" stands out before it is read.
    Side(Side),
    /// How sure an attribution is: only doubt is highlighted.
    Certainty(Certainty),
    Bold,
    Dim,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const GREY: &str = "\x1b[90m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

/// Whether output is coloured. Built once at the edge, then passed to the pure
/// render functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour on.
    pub fn coloured() -> Self {
        Self { colour: true }
    }

    /// Colour off.
    pub fn plain() -> Self {
        Self { colour: false }
    }

    /// Applies the colour policy. `no_color` is the value of the `NO_COLOR`
    /// environment variable if set; per <https://no-color.org> any non-empty
    /// value disables colour, an empty one does not.
    pub fn resolve(choice: ColorChoice, stdout_is_terminal: bool, no_color: Option<&str>) -> Self {
        let colour = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_is_terminal && no_color.is_none_or(str::is_empty),
        };
        Self { colour }
    }

    /// Reads the terminal and the environment of this process.
    pub fn detect(choice: ColorChoice) -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR");
        // A non-UTF-8 value is still a non-empty value: it disables colour.
        let no_color = no_color.map(|v| v.to_str().map_or_else(|| "x".to_owned(), str::to_owned));
        Self::resolve(choice, std::io::stdout().is_terminal(), no_color.as_deref())
    }

    pub fn is_coloured(&self) -> bool {
        self.colour
    }

    /// Wraps `text` in the escape codes of `paint` when colour is on.
    pub fn paint(&self, paint: Paint, text: &str) -> String {
        let code = match paint {
            Paint::Plain => None,
            Paint::Bold => Some(BOLD),
            Paint::Dim => Some(DIM),
            Paint::State(state) => Some(state_code(state)),
            Paint::Outcome(outcome) => match outcome {
                Outcome::Success => Some(GREEN),
                Outcome::Warning => Some(YELLOW),
                Outcome::Failure => Some(RED),
                Outcome::Unspecified => Some(GREY),
            },
            Paint::Side(side) => match side {
                Side::Platform => Some(MAGENTA),
                Side::Workload => Some(CYAN),
                Side::Unspecified => Some(GREY),
            },
            Paint::Certainty(certainty) => match certainty {
                Certainty::Attributed => None,
                Certainty::Ambiguous | Certainty::InsufficientData => Some(YELLOW),
                Certainty::Unspecified => Some(GREY),
            },
        };
        match code {
            Some(code) if self.colour && !text.is_empty() => format!("{code}{text}{RESET}"),
            _ => text.to_owned(),
        }
    }
}

fn state_code(state: HealthState) -> &'static str {
    match state {
        HealthState::Healthy => GREEN,
        HealthState::Degraded => YELLOW,
        HealthState::Unhealthy => RED,
        // Missing data is never shown as good news.
        HealthState::Unknown | HealthState::Unspecified => GREY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        assert!(Style::resolve(ColorChoice::Auto, true, None).is_coloured());
        assert!(!Style::resolve(ColorChoice::Auto, false, None).is_coloured());
        assert!(!Style::resolve(ColorChoice::Auto, true, Some("1")).is_coloured());
        // An empty NO_COLOR does not disable colour (no-color.org).
        assert!(Style::resolve(ColorChoice::Auto, true, Some("")).is_coloured());
    }

    #[test]
    fn explicit_flags_win() {
        assert!(Style::resolve(ColorChoice::Always, false, Some("1")).is_coloured());
        assert!(!Style::resolve(ColorChoice::Never, true, None).is_coloured());
    }

    #[test]
    fn paints_states_in_their_colours() {
        let s = Style::coloured();
        assert_eq!(
            s.paint(Paint::State(HealthState::Healthy), "ok"),
            "\x1b[32mok\x1b[0m"
        );
        assert!(
            s.paint(Paint::State(HealthState::Unhealthy), "x")
                .starts_with(RED)
        );
        assert!(
            s.paint(Paint::State(HealthState::Degraded), "x")
                .starts_with(YELLOW)
        );
        assert!(
            s.paint(Paint::State(HealthState::Unknown), "x")
                .starts_with(GREY)
        );
        assert_eq!(
            Style::plain().paint(Paint::State(HealthState::Healthy), "ok"),
            "ok"
        );
    }

    #[test]
    fn sides_are_distinct_and_only_doubt_is_highlighted() {
        let s = Style::coloured();
        let platform = s.paint(Paint::Side(Side::Platform), "platform");
        let workload = s.paint(Paint::Side(Side::Workload), "workload");
        assert!(platform.starts_with(MAGENTA), "{platform:?}");
        assert!(workload.starts_with(CYAN), "{workload:?}");
        assert_eq!(
            s.paint(Paint::Certainty(Certainty::Attributed), "attributed"),
            "attributed"
        );
        assert!(
            s.paint(Paint::Certainty(Certainty::Ambiguous), "ambiguous")
                .starts_with(YELLOW)
        );
        assert!(
            s.paint(Paint::Certainty(Certainty::InsufficientData), "x")
                .starts_with(YELLOW)
        );
        assert_eq!(Style::plain().paint(Paint::Side(Side::Platform), "p"), "p");
    }
}
