package dev.lokr.dl4j.train;

import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stages batch arrays for fast host-to-device copies ("pin memory"). On a CUDA backend each array
 * is relocated to the device by the prefetch worker ({@code AffinityManager.ensureLocation(arr,
 * DEVICE)}), so the training thread finds it there. On any other backend staging is a no-op, and
 * the first staged batch emits one notice (INFO) saying so, once per iterator. Thread-safe.
 */
final class DeviceStaging {
    private static final Logger log = LoggerFactory.getLogger(DeviceStaging.class);

    static final String CPU_NOTICE =
            "pinMemory=true has no effect on the %s ND4J backend (only CUDA stages batches on the device)";

    private final boolean pinMemory;
    private final boolean cuda;
    private final Consumer<String> notice;
    private final AtomicBoolean noticed = new AtomicBoolean();

    DeviceStaging(boolean pinMemory, boolean cuda, Consumer<String> notice) {
        this.pinMemory = pinMemory;
        this.cuda = cuda;
        this.notice = Objects.requireNonNull(notice, "notice");
    }

    /** Staging for the backend of this JVM, with notices logged at INFO. */
    static DeviceStaging forCurrentBackend(boolean pinMemory) {
        return new DeviceStaging(pinMemory, isCudaBackend(), log::info);
    }

    /**
     * @return whether the active ND4J backend is CUDA (judged by the backend class name, e.g.
     *     {@code JCublasBackend})
     */
    static boolean isCudaBackend() {
        String name = Nd4j.getBackend().getClass().getSimpleName().toLowerCase(Locale.ROOT);
        return name.contains("cublas") || name.contains("cuda");
    }

    boolean pinMemory() {
        return pinMemory;
    }

    /**
     * Stages the given arrays (null entries are skipped). Arrays are modified in place only in
     * where their buffer lives; values and shapes do not change.
     */
    void stage(INDArray... arrays) {
        if (!pinMemory) {
            return;
        }
        if (!cuda) {
            if (noticed.compareAndSet(false, true)) {
                notice.accept(String.format(Locale.ROOT, CPU_NOTICE, backendName()));
            }
            return;
        }
        AffinityManager affinity = Nd4j.getAffinityManager();
        for (INDArray a : arrays) {
            if (a != null) {
                affinity.ensureLocation(a, AffinityManager.Location.DEVICE);
            }
        }
    }

    private static String backendName() {
        return Nd4j.getBackend().getClass().getSimpleName();
    }
}
