package dev.lokr.benchmarks;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrDense;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToDoubleFunction;

/**
 * One training step of one dense layer with a frozen weight {@code W [out, in]}: the forward
 * {@code y = x W'^T}, then the backward to the input and to every trainable tensor, given the
 * upstream gradient {@code dy}. Three ways:
 * <ul>
 *   <li>{@link #frozen()}: the base layer alone, {@code y = x W^T}, {@code dx = dy W}, two GEMMs with
 *       transpose flags into preallocated 'c' outputs (the fastest ND4J allows; the honest baseline);</li>
 *   <li>{@link #factored()}: {@link LokrDense#forward} and {@link LokrDense#backward}, never building
 *       {@code dW}; {@link #factoredInWorkspace()} is the same step with its arrays taken from an ND4J
 *       workspace, as DL4J runs a layer;</li>
 *   <li>{@link #materialized()}: the Python references' default forward, building the effective weight
 *       every step and adding {@code x (W' - W)^T} to the frozen output (LyCORIS's {@code base + delta}),
 *       with the backward autograd gives it: five large GEMMs into preallocated outputs;
 *       {@link #materializedInWorkspace()} takes its other arrays from the workspace, as PyTorch's caching
 *       allocator spares the reference most of its allocation.</li>
 * </ul>
 * The multiplier is 1, there is no bias, no rank dropout. Not thread-safe; {@link #close()} frees the
 * workspace that {@link #factoredInWorkspace()} and {@link #materializedInWorkspace()} share.
 */
public final class DenseStep implements AutoCloseable {

    /** The strength {@code m} of every step. */
    public static final double MULTIPLIER = 1.0;

    /** Learns its size in the first step, then reuses one block step after step. */
    private static final WorkspaceConfiguration WORKSPACE = WorkspaceConfiguration.builder()
            .initialSize(0)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .overallocationLimit(0.2)
            .policyReset(ResetPolicy.BLOCK_LEFT)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();
    private static final AtomicLong WORKSPACE_IDS = new AtomicLong();

    private final String workspaceId = "lokr-bench-dense-step-" + WORKSPACE_IDS.incrementAndGet();

    private final DenseInputs inputs;
    private final LokrParams params;
    private final LokrParams grads;
    private final INDArray y;
    private final INDArray dx;
    private final INDArray gradEff;

    /**
     * Allocates the module tensors (mid-training values), their gradients and the output buffers.
     *
     * @param options      the adapter options
     * @param inputs       the frozen weight, input and upstream gradient; shared, not modified
     * @param materialized whether to allocate the {@code [out, in]} buffer that {@link #materialized()} needs
     * @param seed         the seed of the module tensors
     */
    public DenseStep(LokrAdapter options, DenseInputs inputs, boolean materialized, long seed) {
        this.inputs = inputs;
        this.params = AdapterStates.midTraining(options, inputs.weight(), inputs.type(), seed);
        this.grads = LokrParams.zeros(params.layout(), inputs.type());
        this.y = Nd4j.create(inputs.type(), inputs.batch(), inputs.out());
        this.dx = Nd4j.create(inputs.type(), inputs.batch(), inputs.in());
        this.gradEff = materialized ? Nd4j.create(inputs.type(), inputs.out(), inputs.in()) : null;
    }

    /** @return the layout of the module */
    public LokrLayout layout() {
        return params.layout();
    }

    /** @return the module tensors (not copied) */
    public LokrParams params() {
        return params;
    }

    /** @return the shared inputs */
    public DenseInputs inputs() {
        return inputs;
    }

    /**
     * The frozen layer alone: {@code y = x W^T}, {@code dx = dy W}. With DL4J's weight ('f' order
     * {@code [in, out]}, a 'c' {@code [out, in]} transpose) the GEMMs read {@code W [out, in]} with
     * {@code transB} set for the forward; with a 'c' {@code [in, out]} weight, for the backward.
     *
     * @return {@code y} and {@code dx} (this object's buffers), no gradients
     */
    public StepResult frozen() {
        INDArray x = inputs.x();
        INDArray dy = inputs.dy();
        if (inputs.weightOrder() == 'f') {
            INDArray w = inputs.weight();
            Nd4j.gemm(x, w, y, false, true, 1.0, 0.0);
            Nd4j.gemm(dy, w, dx, false, false, 1.0, 0.0);
        } else {
            INDArray w = inputs.stored();
            Nd4j.gemm(x, w, y, false, false, 1.0, 0.0);
            Nd4j.gemm(dy, w, dx, false, true, 1.0, 0.0);
        }
        return new StepResult(y, dx, null);
    }

    /**
     * The factored LoKR step: {@link LokrDense#forward} with a fresh cache, then {@link LokrDense#backward}
     * with the input gradient.
     *
     * @return new {@code y} and {@code dx}, and this object's gradient tensors
     */
    public StepResult factored() {
        LokrDense.Cache cache = new LokrDense.Cache();
        INDArray out = LokrDense.forward(params, inputs.weight(), null, inputs.x(), MULTIPLIER, null, cache);
        INDArray in = LokrDense.backward(inputs.weight(), inputs.dy(), cache, grads, true);
        return new StepResult(out, in, grads);
    }

    /**
     * {@link #factored()} with every array it allocates taken from an ND4J workspace of this object that is
     * reused step after step, as DL4J's workspace mode runs a layer's forward and backward: the output and the
     * input gradient stay in the workspace, as a DL4J layer's do until the next step, and {@code use} reads
     * them before it closes. Like the frozen step's preallocated outputs, the workspace's memory is reused,
     * so neither step pays for allocation; without a workspace each step's arrays are freed through the
     * garbage collector, which on a small machine adds collection and allocation time that DL4J training
     * does not pay.
     *
     * @param use reads the step's result while its arrays are valid (not after it returns)
     * @return what {@code use} returns
     */
    public double factoredInWorkspace(ToDoubleFunction<StepResult> use) {
        return inWorkspace(this::factored, use);
    }

    /**
     * {@link #materialized()} with every array it allocates (the effective weight and the temporaries of its
     * backward) taken from this object's workspace, as {@link #factoredInWorkspace(ToDoubleFunction)} does: the
     * comparison then charges neither step for allocation. Its outputs are this object's buffers.
     *
     * @param use reads the step's result while its arrays are valid
     * @return what {@code use} returns
     */
    public double materializedInWorkspace(ToDoubleFunction<StepResult> use) {
        return inWorkspace(this::materialized, use);
    }

    /**
     * The step the materialized benchmarks time: {@link #materializedInWorkspace(ToDoubleFunction)} reading one
     * element of the output and of the input gradient.
     *
     * @return {@code y[0] + dx[0]}
     */
    public double materializedInWorkspace() {
        return materializedInWorkspace(r -> r.y().getDouble(0) + r.dx().getDouble(0));
    }

    private double inWorkspace(java.util.function.Supplier<StepResult> step, ToDoubleFunction<StepResult> use) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(WORKSPACE, workspaceId)) {
            return use.applyAsDouble(step.get());
        }
    }

    /**
     * The step the benchmarks time: {@link #factoredInWorkspace(ToDoubleFunction)} reading one element of the
     * output and of the input gradient.
     *
     * @return {@code y[0] + dx[0]}
     */
    public double factoredInWorkspace() {
        return factoredInWorkspace(r -> r.y().getDouble(0) + r.dx().getDouble(0));
    }

    /**
     * @return the bytes the workspace of the in-workspace steps holds on the calling thread (0 before
     *         its first step has been learned)
     */
    public long workspaceBytes() {
        MemoryWorkspace ws = existingWorkspace();
        return ws == null ? 0L : ws.getCurrentSize();
    }

    /** Frees the workspace of the in-workspace steps on the calling thread; the step stays usable. */
    @Override
    public void close() {
        MemoryWorkspace ws = existingWorkspace();
        if (ws != null) {
            Nd4j.getWorkspaceManager().destroyWorkspace(ws);
        }
    }

    /** @return this step's workspace on the calling thread, or null if it has none (looking does not create one) */
    private MemoryWorkspace existingWorkspace() {
        return Nd4j.getWorkspaceManager().checkIfWorkspaceExists(workspaceId)
                ? Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(workspaceId)
                : null;
    }

    /**
     * The materialized LoKR step, as LyCORIS's default forward (the pinned snapshot, also PEFT's) computes it:
     * the frozen output {@code x W^T}, then {@code W' = LokrWeights.effectiveWeight} (DoRA included),
     * {@code delta = W' - W} and {@code y += x delta^T}; the backward {@code dx = dy W + dy delta},
     * {@code dL/d delta = dy^T x} (the gradient of {@code W'}) and {@link LokrWeights#backward}. Five large
     * GEMMs, against the frozen step's two; the GEMMs write into preallocated outputs with {@code beta}.
     *
     * @return {@code y}, {@code dx} and the gradients (this object's buffers)
     * @throws IllegalStateException if this step was made without the materialized buffer
     */
    public StepResult materialized() {
        if (gradEff == null) {
            throw new IllegalStateException("materialized() needs the [out, in] buffer: create the DenseStep with "
                    + "materialized = true");
        }
        INDArray x = inputs.x();
        INDArray dy = inputs.dy();
        frozen();                                                          // y = x W^T, dx = dy W
        INDArray delta = LokrWeights.effectiveWeight(params, inputs.weight(), MULTIPLIER, null);
        delta.subi(inputs.weight());                                       // W' - W, as LyCORIS subtracts
        Nd4j.gemm(x, delta, y, false, true, 1.0, 1.0);
        Nd4j.gemm(dy, delta, dx, false, false, 1.0, 1.0);
        Nd4j.gemm(dy, x, gradEff, true, false, 1.0, 0.0);
        LokrWeights.backward(params, inputs.weight(), MULTIPLIER, null, gradEff, grads);
        return new StepResult(y, dx, grads);
    }
}
