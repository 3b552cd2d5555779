package dev.lokr.math;

import dev.lokr.LokrAdapter;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertEquals;

class SmokeTest {
    @Test
    void denseMatchesMaterialized() {
        for (boolean dora : new boolean[] {false, true}) {
            for (boolean onIn : new boolean[] {false, true}) {
                if (onIn && !dora) continue;
                LokrAdapter ad = LokrAdapter.builder().rank(2).alpha(3).dora(dora).doraOnInput(onIn).scalar(true).decomposeBoth(true).build();
                LokrLayout layout = ad.layoutFor(12, 20);
                LokrParams p = LokrParams.zeros(layout, DataType.DOUBLE);
                INDArray big = Nd4j.rand(DataType.DOUBLE, 1, 7 + 240 + 3);
                INDArray wDl4j = big.get(NDArrayIndex.point(0), NDArrayIndex.interval(7, 247)).reshape('c', 20, 12);
                INDArray w = wDl4j.transpose();
                LokrInit.initialize(p, w, 1);
                for (INDArray v : p.asMap().values()) v.addi(Nd4j.rand(DataType.DOUBLE, v.shape()).subi(0.5));
                INDArray x = Nd4j.rand(DataType.DOUBLE, 5, 20);
                INDArray y = LokrDense.forward(p, w, null, x, 0.7, null, null);
                INDArray eff = LokrWeights.effectiveWeight(p, w.dup('c'), 0.7, null);
                INDArray ref = x.mmul(eff.transpose());
                assertEquals(0, y.sub(ref).amaxNumber().doubleValue(), 1e-10, layout.toString() + y + ref);
            }
        }
    }
}
