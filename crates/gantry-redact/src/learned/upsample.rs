//! The network's upsampling, computed as what it is: each value repeated over a block.
//!
//! PP-OCRv3's detector upsamples its feature maps six times (ONNX `Resize`, mode
//! `nearest`, coordinates `asymmetric`, rounding `floor`, by whole factors). With those
//! settings output `(y, x)` takes input `(y / fy, x / fx)`, integer division: a plain
//! repeat. tract's `Resize` computes every output coordinate through dynamic-rank indexing
//! and took half the network's time; this op repeats rows with slice copies. Only
//! nodes shown (by their settings and by their shapes) to be such a repeat are replaced,
//! and a test checks that the network computes the same map, bit for bit, either way.

use tract_onnx::tract_hir::internal::*;

/// Repeats each value of an NCHW tensor `rows` × `columns` times.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Upsample {
    rows: usize,
    columns: usize,
}

impl Op for Upsample {
    fn name(&self) -> Cow<'_, str> {
        "GantryUpsample".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Upsample {
    fn is_stateless(&self) -> bool {
        true
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        let [n, c, h, w] = *shape else {
            bail!("upsampling a tensor of shape {shape:?}, not NCHW");
        };
        let data = input.as_slice::<f32>()?;
        let (fy, fx) = (self.rows, self.columns);
        let mut out: Vec<f32> = Vec::with_capacity(data.len() * fy * fx);
        for row in data.chunks_exact(w.max(1)) {
            let start = out.len();
            for &v in row {
                out.extend(std::iter::repeat_n(v, fx));
            }
            for _ in 1..fy {
                out.extend_from_within(start..start + w * fx);
            }
        }
        let array = tract_ndarray::Array4::from_shape_vec((n, c, h * fy, w * fx), out)?;
        Ok(tvec!(array.into_tvalue()))
    }
}

impl TypedOp for Upsample {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.to_tvec();
        if shape.len() != 4 || inputs[0].datum_type != f32::datum_type() {
            bail!("upsampling {:?}, not an NCHW tensor of f32", inputs[0]);
        }
        shape[2] = shape[2].clone() * self.rows;
        shape[3] = shape[3].clone() * self.columns;
        Ok(tvec!(f32::fact(&*shape)))
    }
}

/// Replaces each `Resize` node of `model` that repeats values over whole blocks (nearest,
/// asymmetric, floor; f32 NCHW; each output side a multiple of the input's, batch and
/// channels unchanged) by [`Upsample`]. Returns how many it replaced.
pub(super) fn replace_resizes(model: &mut TypedModel) -> TractResult<usize> {
    let resizes: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|n| n.op.name() == "Resize")
        .map(|n| n.id)
        .collect();
    let mut replaced = 0;
    for id in resizes {
        let node = model.node(id).clone();
        // The op's settings are private to tract-onnx; its description names them.
        let settings = format!("{:?}", node.op);
        if !(settings.contains("coord_transformer: Asymmetric")
            && settings.contains("interpolator: Nearest")
            && settings.contains("nearest: Floor"))
        {
            continue;
        }
        let input = model.outlet_fact(node.inputs[0])?.clone();
        let output = model.outlet_fact(OutletId::new(id, 0))?.clone();
        let (Some(i), Some(o)) = (input.shape.as_concrete(), output.shape.as_concrete()) else {
            continue;
        };
        let whole = i.len() == 4
            && o.len() == 4
            && input.datum_type == f32::datum_type()
            && i[0] == o[0]
            && i[1] == o[1]
            && i[2] > 0
            && i[3] > 0
            && o[2] % i[2] == 0
            && o[3] % i[3] == 0;
        if !whole {
            continue;
        }
        let op = Upsample {
            rows: o[2] / i[2],
            columns: o[3] / i[3],
        };
        TypedModelPatch::replace_single_op(model, &node, &node.inputs[..1], op)?.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}
