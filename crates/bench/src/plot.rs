//! The failover bench's SVG plot: per stack and scenario, the longest write gap (bar: median,
//! line: max) and when all idle SB subscribers had a change made after the fault (dot).

use crate::report::Row;
use crate::stack::Stack;
use anyhow::Result;
use std::fmt;

/// Each stack's colour in the plot.
fn colour(stack: Stack) -> plotters::style::RGBColor {
    use plotters::style::RGBColor;
    match stack {
        Stack::Ours => RGBColor(31, 119, 180),
        Stack::OursTls => RGBColor(23, 190, 207),
        Stack::Shell => RGBColor(214, 39, 40),
        Stack::ShellTuned => RGBColor(255, 127, 14),
        Stack::Raft => RGBColor(44, 160, 44),
    }
}

pub fn plot(rows: &[Row], path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let e = |e: &dyn fmt::Display| anyhow::anyhow!("plot {}: {e}", path.display());
    let n = rows.len().max(1);
    let width = u32::try_from(n).unwrap_or(64).clamp(6, 64) * 95 + 80;
    let root = SVGBackend::new(path, (width, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let max = rows
        .iter()
        .flat_map(|r| [r.outage.1, r.crowd.0])
        .flatten()
        .map(|d| d.as_secs_f64())
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Longest write gap after the fault (bar: median, line: max); dot: all idle SB subscribers have a change made after it (median), seconds",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_labels(0)
        .disable_x_mesh()
        .y_desc("seconds")
        .draw()
        .map_err(|x| e(&x))?;
    // Two label lines under each bar: the stack, then the scenario.
    let label_style = ("sans-serif", 12)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, r) in rows.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        for (line, text) in [r.stack.to_string(), r.scenario.to_string()]
            .iter()
            .enumerate()
        {
            let y = py + 8 + 15 * i32::try_from(line).unwrap_or(0);
            root.draw(&Text::new(text.as_str(), (px, y), label_style.clone()))
                .map_err(|x| e(&x))?;
        }
    }
    let mut seen: Vec<Stack> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let c = colour(r.stack);
        let x = i as f64;
        if let Some(m) = r.outage.0 {
            let series = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.2, 0.0), (x + 0.8, m.as_secs_f64())],
                    c.mix(0.7).filled(),
                )))
                .map_err(|x| e(&x))?;
            if !seen.contains(&r.stack) {
                seen.push(r.stack);
                series.label(r.stack.to_string()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                });
            }
        }
        if let Some(m) = r.outage.1 {
            chart
                .draw_series(LineSeries::new(
                    [(x + 0.3, m.as_secs_f64()), (x + 0.7, m.as_secs_f64())],
                    c.stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
        }
        if let Some(m) = r.crowd.0 {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x + 0.5, m.as_secs_f64()),
                    4,
                    BLACK.filled(),
                )))
                .map_err(|x| e(&x))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{RunResult, row};
    use crate::stack::Scenario;
    use std::time::Duration;

    #[test]
    fn plot_has_every_stack_in_its_own_colour_and_labels() {
        let d = Duration::from_millis;
        let rows: Vec<Row> = [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft]
            .into_iter()
            .map(|stack| {
                let r = RunResult {
                    bootstrap: Some(d(2000)),
                    ..RunResult::default()
                };
                row(stack, Scenario::Bootstrap, &[r], 0)
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        plot(&rows, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for stack in [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft] {
            let c = colour(stack);
            let hex = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
            assert!(svg.contains(&hex), "{stack}: {hex}");
            assert!(svg.contains(&format!(">\n{stack}\n<")), "{stack} label");
        }
        assert_eq!(svg.matches("cold bootstrap").count(), 4);
        let colours: Vec<_> = [Stack::Ours, Stack::Shell, Stack::ShellTuned, Stack::Raft]
            .map(colour)
            .to_vec();
        for (i, c) in colours.iter().enumerate() {
            assert!(!colours[i + 1..].contains(c), "distinct colours");
        }
    }
}
