//! `nearest_rank(x, p)`: the exact nearest-rank percentile as a DataFusion aggregate (UDAF).
//! DataFusion's `approx_percentile_cont` is approximate and `percentile_cont` interpolates; this
//! is `percentile_disc` (PostgreSQL) / `quantile_disc` (DuckDB): the value at rank
//! `ceil(p * n)` of the non-null values, in `O(n)` per group. `p` must be a literal in `(0, 1]`;
//! integer, decimal and float inputs keep their type.

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, ListArray, PrimitiveArray};
use arrow::datatypes::{
    ArrowNativeTypeOp, DataType, Decimal128Type, Field, FieldRef, Float64Type, Int64Type, UInt64Type,
};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;
use rust_decimal::Decimal;

use crate::metering::percentile::{Fraction, rank};

/// The `nearest_rank` aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NearestRank {
    signature: Signature,
}

impl Default for NearestRank {
    fn default() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

fn supported(t: &DataType) -> bool {
    matches!(t, DataType::Int64 | DataType::UInt64 | DataType::Float64 | DataType::Decimal128(_, _))
}

/// Reads the literal `p` as an exact fraction.
fn fraction(v: &ScalarValue) -> Result<Fraction> {
    let text = match v {
        ScalarValue::Float64(Some(f)) => format!("{f}"),
        ScalarValue::Float32(Some(f)) => format!("{f}"),
        ScalarValue::Decimal128(Some(m), _, s) => {
            Decimal::try_from_i128_with_scale(*m, (*s).max(0) as u32).map(|d| d.to_string()).unwrap_or_default()
        }
        ScalarValue::Int64(Some(1)) => "1".into(),
        other => return plan_err!("nearest_rank: p must be a number literal in (0, 1], found {other}"),
    };
    let d = Decimal::from_str_exact(&text).map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string()))?;
    if d <= Decimal::ZERO || d > Decimal::ONE {
        return plan_err!("nearest_rank: p must be in (0, 1], found {d}");
    }
    let den = 10u64.pow(d.scale());
    let num = u64::try_from(d.mantissa()).unwrap_or(0);
    Ok(Fraction { num, den })
}

impl AggregateUDFImpl for NearestRank {
    fn name(&self) -> &str {
        "nearest_rank"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(t) if supported(t) => Ok(t.clone()),
            Some(t) => plan_err!("nearest_rank: unsupported type {t} (use BIGINT, BIGINT UNSIGNED, DOUBLE or DECIMAL)"),
            None => plan_err!("nearest_rank(x, p) takes two arguments"),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = Field::new_list_field(args.input_fields[0].data_type().clone(), true);
        Ok(vec![Arc::new(Field::new(format!("{}[values]", args.name), DataType::List(Arc::new(item)), true))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let Some(p) = args.exprs.get(1).and_then(|e| e.downcast_ref::<Literal>()) else {
            return plan_err!("nearest_rank: p must be a literal");
        };
        let p = fraction(p.value())?;
        let dt = args.expr_fields[0].data_type().clone();
        Ok(match dt {
            DataType::Int64 => Box::new(Values::<Int64Type> { p, data_type: dt, values: Vec::new() }),
            DataType::UInt64 => Box::new(Values::<UInt64Type> { p, data_type: dt, values: Vec::new() }),
            DataType::Float64 => Box::new(Values::<Float64Type> { p, data_type: dt, values: Vec::new() }),
            DataType::Decimal128(_, _) => Box::new(Values::<Decimal128Type> { p, data_type: dt, values: Vec::new() }),
            other => return exec_err!("nearest_rank: unsupported type {other}"),
        })
    }
}

/// Every non-null value of a group.
#[derive(Debug)]
struct Values<T: ArrowPrimitiveType> {
    p: Fraction,
    data_type: DataType,
    values: Vec<T::Native>,
}

impl<T: ArrowPrimitiveType + Debug> Accumulator for Values<T> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = values[0].as_primitive::<T>();
        self.values.reserve(a.len() - a.null_count());
        self.values.extend(a.iter().flatten());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let Some(k) = rank(self.values.len(), self.p) else {
            return ScalarValue::new_primitive::<T>(None, &self.data_type);
        };
        let (_, v, _) = self.values.select_nth_unstable_by(k - 1, |a, b| a.compare(*b));
        ScalarValue::new_primitive::<T>(Some(*v), &self.data_type)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * std::mem::size_of::<T::Native>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let arr =
            PrimitiveArray::<T>::from_iter_values(self.values.iter().copied()).with_data_type(self.data_type.clone());
        Ok(vec![ScalarValue::List(Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(self.data_type.clone(), true)),
            arrow::buffer::OffsetBuffer::from_lengths([arr.len()]),
            Arc::new(arr),
            None,
        )))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for list in lists.iter().flatten() {
            self.values.extend(list.as_primitive::<T>().iter().flatten());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::Schema;
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::SessionContext;
    use proptest::prelude::*;

    async fn p95_sql(values: Vec<i64>, groups: usize) -> Vec<(i64, Option<i64>)> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int64, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let g: Vec<i64> = (0..values.len() as i64).map(|i| i % groups as i64).collect();
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(g)), Arc::new(Int64Array::from(values))])
                .unwrap();
        let ctx = SessionContext::new();
        ctx.register_udaf(AggregateUDF::from(NearestRank::default()));
        ctx.register_batch("t", batch).unwrap();
        let df = ctx.sql("SELECT g, nearest_rank(v, 0.95) AS p FROM t GROUP BY g ORDER BY g").await.unwrap();
        let mut out = Vec::new();
        for b in df.collect().await.unwrap() {
            let g = b.column(0).as_primitive::<Int64Type>();
            let p = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                out.push((g.value(i), p.is_valid(i).then(|| p.value(i))));
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_per_group() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        // 1..=20: k = 19, so 19.
        assert_eq!(rt.block_on(p95_sql((1..=20).collect(), 1)), vec![(0, Some(19))]);
        // 1..=21: k = ceil(19.95) = 20.
        assert_eq!(rt.block_on(p95_sql((1..=21).collect(), 1)), vec![(0, Some(20))]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        #[test]
        fn agrees_with_sorting(values in proptest::collection::vec(-1000i64..1000, 1..3000), groups in 1usize..5) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let got = rt.block_on(p95_sql(values.clone(), groups));
            for (g, p) in got {
                let mut mine: Vec<i64> = values.iter().enumerate().filter(|(i, _)| (*i % groups) as i64 == g).map(|(_, v)| *v).collect();
                mine.sort_unstable();
                let k = (mine.len() * 95).div_ceil(100);
                prop_assert_eq!(p, Some(mine[k - 1]));
            }
        }
    }
}
