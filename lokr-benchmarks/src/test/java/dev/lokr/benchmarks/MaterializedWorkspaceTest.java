package dev.lokr.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@link DenseStep#materializedInWorkspace}: the materialized step, its temporaries taken from the step's
 * workspace (which then holds memory), giving what {@link DenseStep#materialized()} gives.
 */
class MaterializedWorkspaceTest {

    @Test
    void theMaterializedStepRunsInTheWorkspaceAndAgrees() {
        for (Variant variant : new Variant[] {Variant.PLAIN, Variant.DORA}) {
            DenseInputs inputs = DenseInputs.random(36, 48, 5, DataType.DOUBLE, 'f', 3);
            try (DenseStep step = new DenseStep(variant.options(2, 3, -1), inputs, true, 103)) {
                StepResult plain = step.materialized();
                double[] y = Naive.flat(plain.y());
                double[] dx = Naive.flat(plain.dx());
                LokrParams grads = plain.grads().copy();
                assertEquals(0L, step.workspaceBytes(), variant + ": no workspace before");
                for (int k = 0; k < 2; k++) {
                    String run = variant + " workspace step " + k;
                    double touched = step.materializedInWorkspace(ws -> {
                        assertNull(Naive.compare(run + " y", Naive.flat(ws.y()), y, 1e-12));
                        assertNull(Naive.compare(run + " dx", Naive.flat(ws.dx()), dx, 1e-12));
                        for (LokrParam p : step.layout().params()) {
                            assertNull(Naive.compare(run + " grad " + p.key(), Naive.flat(ws.grads().get(p)),
                                    Naive.flat(grads.get(p)), 1e-12));
                        }
                        return 0.0;
                    });
                    assertEquals(0.0, touched);
                    assertEquals(y[0] + dx[0], step.materializedInWorkspace(), 1e-12 * (1 + Math.abs(y[0])
                            + Math.abs(dx[0])), run + ": the timed step reads y[0] + dx[0]");
                }
                assertTrue(step.workspaceBytes() > 0, variant + ": the step's temporaries come from its workspace");
            }
        }
    }
}
