//! Naive forecasters: the seasonal-naive baselines (repeat the last cycle) and the last value.

/// Repeats the last `period` values of `y` for `h` steps. `period == 1` is the naive (last
/// value) forecast. Returns `None` when `y` is shorter than one period or `period == 0`.
pub fn seasonal_naive(y: &[f64], period: usize, h: usize) -> Option<Vec<f64>> {
    let n = y.len();
    if period == 0 || n < period {
        return None;
    }
    Some((0..h).map(|k| y[n - period + (k % period)]).collect())
}

/// In-sample mean absolute error of the seasonal-naive forecast at lag `period` (the MASE
/// scale). `None` when there are not enough points.
pub fn seasonal_naive_mae(y: &[f64], period: usize) -> Option<f64> {
    if period == 0 || y.len() <= period {
        return None;
    }
    let n = y.len() - period;
    Some(
        (period..y.len())
            .map(|i| (y[i] - y[i - period]).abs())
            .sum::<f64>()
            / n as f64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_last_cycle() {
        let y = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            seasonal_naive(&y, 2, 5).unwrap(),
            vec![4.0, 5.0, 4.0, 5.0, 4.0]
        );
        assert_eq!(seasonal_naive(&y, 1, 2).unwrap(), vec![5.0, 5.0]);
        assert!(seasonal_naive(&y, 6, 2).is_none());
        assert!(seasonal_naive(&y, 0, 2).is_none());
        assert_eq!(seasonal_naive_mae(&y, 1), Some(1.0));
        assert_eq!(seasonal_naive_mae(&y, 5), None);
    }
}
