//! A line chart drawn with braille dots (or plain ASCII), with an optional expected band and
//! marks on anomalous points. Written for pitcrew rather than taken from ratatui's `Chart` so
//! that it can shade a band, mark points and fall back to ASCII on terminals without Unicode.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;

/// Styles of a chart's parts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChartStyles {
    /// The series.
    pub line: Style,
    /// The expected band.
    pub band: Style,
    /// Axis labels.
    pub axis: Style,
    /// Anomalous points.
    pub anomaly: Style,
}

/// A line chart over a fixed time range.
pub(crate) struct LineChart<'a> {
    /// `(t, v)` points in time order.
    pub points: &'a [(f64, f64)],
    /// `(t, lo, hi)` expected band.
    pub band: &'a [(f64, f64, f64)],
    /// Times of anomalous points.
    pub marks: &'a [f64],
    /// Time range shown.
    pub x_range: (f64, f64),
    /// Formats a y value for the axis.
    pub fmt_y: &'a dyn Fn(f64) -> String,
    /// No Unicode.
    pub ascii: bool,
    /// Styles.
    pub styles: ChartStyles,
}

/// `HH:MM` of a unix time, UTC.
pub(crate) fn hhmm(t: f64) -> String {
    let s = t.rem_euclid(86_400.0) as i64;
    format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// `MM-DD HH:MM` of a unix time, UTC.
pub(crate) fn day_hhmm(t: f64) -> String {
    match jiff::Timestamp::from_second(t.floor() as i64) {
        Ok(ts) => ts.strftime("%m-%d %H:%M").to_string(),
        Err(_) => hhmm(t),
    }
}

fn y_range(points: &[(f64, f64)], band: &[(f64, f64, f64)]) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &(_, v) in points {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    for &(_, a, b) in band {
        if a.is_finite() && b.is_finite() {
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    if !lo.is_finite() {
        return None;
    }
    let span = hi - lo;
    if span <= hi.abs().max(1e-9) * 1e-3 {
        let pad = (hi.abs() * 0.05).max(1e-3);
        return Some((lo - pad, hi + pad));
    }
    Some((lo - span * 0.05, hi + span * 0.05))
}

const BRAILLE_BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];

impl Widget for LineChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < 12 || area.height < 3 {
            return;
        }
        let has_points = self.points.iter().any(|p| p.1.is_finite());
        let range = if has_points {
            y_range(self.points, self.band)
        } else {
            None
        };
        let Some((ymin, ymax)) = range else {
            let msg = "no data in this window";
            buf.set_stringn(
                area.x,
                area.y + area.height / 2,
                msg,
                area.width as usize,
                self.styles.axis,
            );
            return;
        };
        let labels = [
            (self.fmt_y)(ymax),
            (self.fmt_y)((ymin + ymax) / 2.0),
            (self.fmt_y)(ymin),
        ];
        let lw = labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .min(9) as u16;
        let plot = Rect {
            x: area.x + lw + 1,
            y: area.y,
            width: area.width.saturating_sub(lw + 1),
            height: area.height - 1,
        };
        if plot.width < 4 || plot.height < 1 {
            return;
        }
        // axis labels
        let rows = [plot.y, plot.y + plot.height / 2, plot.y + plot.height - 1];
        for (l, &y) in labels.iter().zip(rows.iter()) {
            let text: String = l.chars().take(lw as usize).collect();
            let pad = lw as usize - text.chars().count();
            buf.set_string(area.x + pad as u16, y, &text, self.styles.axis);
            buf.set_string(
                area.x + lw,
                y,
                if self.ascii { "|" } else { "┤" },
                self.styles.axis,
            );
        }
        let (t0, t1) = self.x_range;
        let bottom = area.y + area.height - 1;
        // an axis that crosses midnight says the dates, or 16:21 … 04:20 could be any day
        let (left, right) = if (t0 / 86_400.0).floor() != (t1 / 86_400.0).floor() {
            (day_hhmm(t0), format!("{} UTC", day_hhmm(t1)))
        } else {
            (hhmm(t0), format!("{} UTC", hhmm(t1)))
        };
        buf.set_string(plot.x, bottom, &left, self.styles.axis);
        if plot.width as usize > left.len() + right.len() + 1 {
            buf.set_string(
                plot.x + plot.width - right.len() as u16,
                bottom,
                &right,
                self.styles.axis,
            );
        }
        let tspan = (t1 - t0).max(1e-9);
        let yspan = ymax - ymin;
        let (dots_x, dots_y) = if self.ascii { (1u16, 1u16) } else { (2, 4) };
        let w = i64::from(plot.width * dots_x);
        let h = i64::from(plot.height * dots_y);
        let to_x = |t: f64| (((t - t0) / tspan) * (w - 1) as f64).round() as i64;
        let to_y = |v: f64| ((v - ymin) / yspan * (h - 1) as f64).round() as i64;
        let cell_of = |x: i64, y: i64| -> Option<(u16, u16, usize, usize)> {
            if x < 0 || x >= w || y < 0 || y >= h {
                return None;
            }
            let cx = (x / i64::from(dots_x)) as u16;
            let cy_from_bottom = (y / i64::from(dots_y)) as u16;
            let sub_x = (x % i64::from(dots_x)) as usize;
            let sub_y = (i64::from(dots_y) - 1 - y % i64::from(dots_y)) as usize;
            Some((
                plot.x + cx,
                plot.y + plot.height - 1 - cy_from_bottom,
                sub_x,
                sub_y,
            ))
        };
        // band: shade the cells between lo and hi, column by column, interpolating the band
        // (kept at a coarser resolution than the line) at each column's time
        let shade = if self.ascii { ":" } else { "░" };
        let band: Vec<&(f64, f64, f64)> = self
            .band
            .iter()
            .filter(|b| b.1.is_finite() && b.2.is_finite())
            .collect();
        if band.len() >= 2 {
            let rows_h = i64::from(plot.height);
            for cx in 0..plot.width {
                let t = t0 + (f64::from(cx) + 0.5) / f64::from(plot.width) * tspan;
                let k = band.partition_point(|b| b.0 <= t);
                if k == 0 || k >= band.len() {
                    continue;
                }
                let (a, b) = (band[k - 1], band[k]);
                let f = ((t - a.0) / (b.0 - a.0).max(1e-9)).clamp(0.0, 1.0);
                let lo = a.1 + (b.1 - a.1) * f;
                let hi = a.2 + (b.2 - a.2) * f;
                let to_row = |v: f64| ((v - ymin) / yspan * (rows_h - 1) as f64).round() as i64;
                let (rlo, rhi) = (to_row(lo).max(0), to_row(hi).min(rows_h - 1));
                for r in rlo..=rhi {
                    let cy = plot.y + plot.height - 1 - r as u16;
                    buf[(plot.x + cx, cy)]
                        .set_symbol(shade)
                        .set_style(self.styles.band);
                }
            }
        }
        // line: connect consecutive points in dot space
        let mut dots: Vec<u8> = vec![0; (plot.width as usize) * (plot.height as usize)];
        let mut set = |x: i64, y: i64| {
            if let Some((cx, cy, sx, sy)) = cell_of(x, y) {
                let i = usize::from(cy - plot.y) * plot.width as usize + usize::from(cx - plot.x);
                dots[i] |= if dots_x == 1 { 1 } else { BRAILLE_BITS[sx][sy] };
            }
        };
        let mut prev: Option<(i64, i64)> = None;
        for &(t, v) in self.points {
            if !v.is_finite() || t < t0 || t > t1 {
                prev = None;
                continue;
            }
            let p = (to_x(t), to_y(v));
            match prev {
                Some(q) => line(q, p, &mut set),
                None => set(p.0, p.1),
            }
            prev = Some(p);
        }
        for (i, &d) in dots.iter().enumerate() {
            if d == 0 {
                continue;
            }
            let cx = plot.x + (i % plot.width as usize) as u16;
            let cy = plot.y + (i / plot.width as usize) as u16;
            let cell = &mut buf[(cx, cy)];
            if self.ascii {
                cell.set_symbol("*");
            } else {
                let ch = char::from_u32(0x2800 + u32::from(d)).unwrap_or('•');
                cell.set_char(ch);
            }
            cell.set_style(self.styles.line);
        }
        // anomaly marks on the points they flag
        let mark = if self.ascii { "X" } else { "◆" };
        for &tm in self.marks {
            if tm < t0 || tm > t1 {
                continue;
            }
            let near = self
                .points
                .iter()
                .min_by(|a, b| (a.0 - tm).abs().total_cmp(&(b.0 - tm).abs()));
            if let Some(&(t, v)) = near
                && v.is_finite()
                && let Some((cx, cy, _, _)) = cell_of(to_x(t), to_y(v))
            {
                buf[(cx, cy)]
                    .set_symbol(mark)
                    .set_style(self.styles.anomaly);
            }
        }
    }
}

/// Bresenham between two dots.
fn line(a: (i64, i64), b: (i64, i64), set: &mut impl FnMut(i64, i64)) {
    let (mut x0, mut y0) = a;
    let (x1, y1) = b;
    let dx = (x1 - x0).abs();
    let dy = -(y1 - y0).abs();
    let sx = if x0 < x1 { 1 } else { -1 };
    let sy = if y0 < y1 { 1 } else { -1 };
    let mut err = dx + dy;
    let mut guard = 0;
    loop {
        set(x0, y0);
        if (x0 == x1 && y0 == y1) || guard > 100_000 {
            break;
        }
        guard += 1;
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x0 += sx;
        }
        if e2 <= dx {
            err += dx;
            y0 += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(ascii: bool, points: &[(f64, f64)], marks: &[f64]) -> Buffer {
        let area = Rect::new(0, 0, 30, 6);
        let mut buf = Buffer::empty(area);
        let fmt = |v: f64| format!("{v:.0}");
        LineChart {
            points,
            band: &[(50.0, 0.0, 10.0)],
            marks,
            x_range: (0.0, 100.0),
            fmt_y: &fmt,
            ascii,
            styles: ChartStyles::default(),
        }
        .render(area, &mut buf);
        buf
    }

    #[test]
    fn draws_labels_line_and_marks() {
        let pts: Vec<(f64, f64)> = (0..=100)
            .map(|i| (f64::from(i), f64::from(i % 10)))
            .collect();
        let buf = render(true, &pts, &[50.0]);
        let text: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains('*'));
        assert!(text.contains('X'));
        assert!(text.contains("00:00"));
        assert!(text.is_ascii());
        let buf = render(false, &pts, &[]);
        let text: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert!(text.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)));
    }

    #[test]
    fn empty_and_flat_series_do_not_panic() {
        let buf = render(false, &[], &[]);
        let text: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert!(text.contains("no data"));
        render(false, &[(1.0, 5.0), (2.0, 5.0), (3.0, f64::NAN)], &[2.0]);
        render(true, &[(-10.0, 5.0), (200.0, f64::INFINITY)], &[]);
        let area = Rect::new(0, 0, 5, 2);
        let mut buf = Buffer::empty(area);
        let fmt = |v: f64| format!("{v}");
        LineChart {
            points: &[(1.0, 1.0)],
            band: &[],
            marks: &[],
            x_range: (0.0, 1.0),
            fmt_y: &fmt,
            ascii: false,
            styles: ChartStyles::default(),
        }
        .render(area, &mut buf);
    }
}
