// Compile-only stand-ins for LiteRT's Java API (com.google.ai.edge.litert:litert 1.4.1, package org.tensorflow.lite),
// written from the LiteRT repository's Interpreter.java, InterpreterApi.java, Tensor.java and DataType.java as Kotlin
// sees them: the public constructors and methods with their parameter and return types, the Options hierarchy
// (each setter returns its own Options type), Tensor's accessors. InterpreterImpl is package-private in Java; here it
// is a plain open class (Kotlin only sees its public methods through Interpreter either way). Never packaged.
@file:Suppress("UNUSED_PARAMETER", "unused")

package org.tensorflow.lite

import java.io.File
import java.nio.ByteBuffer

private fun stub(): Nothing = throw UnsupportedOperationException("compile-only stub")

/** org.tensorflow.lite.Delegate */
interface Delegate : AutoCloseable {
    fun getNativeHandle(): Long
    override fun close() {}
}

/** org.tensorflow.lite.DelegateFactory */
interface DelegateFactory {
    fun create(runtimeFlavor: RuntimeFlavor): Delegate
}

/** org.tensorflow.lite.RuntimeFlavor */
enum class RuntimeFlavor { APPLICATION, SYSTEM }

/** org.tensorflow.lite.DataType */
enum class DataType {
    FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8, FLOAT16;

    fun byteSize(): Int = stub()
}

/** org.tensorflow.lite.Tensor */
interface Tensor {
    fun dataType(): DataType
    fun numDimensions(): Int
    fun numBytes(): Int
    fun numElements(): Int
    fun shape(): IntArray
    fun shapeSignature(): IntArray
    fun index(): Int
    fun name(): String
    fun quantizationParams(): QuantizationParams
    fun asReadOnlyBuffer(): ByteBuffer

    class QuantizationParams(scale: Float, zeroPoint: Int) {
        fun getScale(): Float = stub()
        fun getZeroPoint(): Int = stub()
    }
}

/** org.tensorflow.lite.InterpreterApi: the interpreter without the experimental methods. */
interface InterpreterApi : AutoCloseable {
    open class Options() {
        constructor(other: Options) : this()

        enum class TfLiteRuntime { FROM_APPLICATION_ONLY, FROM_SYSTEM_ONLY, PREFER_SYSTEM_OVER_APPLICATION }

        open fun setNumThreads(numThreads: Int): Options = stub()
        fun getNumThreads(): Int = stub()
        open fun setUseNNAPI(useNNAPI: Boolean): Options = stub()
        fun getUseNNAPI(): Boolean = stub()
        open fun setCancellable(allow: Boolean): Options = stub()
        fun isCancellable(): Boolean = stub()
        open fun addDelegate(delegate: Delegate): Options = stub()
        fun getDelegates(): List<Delegate> = stub()
        open fun addDelegateFactory(delegateFactory: DelegateFactory): Options = stub()
        fun getDelegateFactories(): List<DelegateFactory> = stub()
        open fun setRuntime(runtime: TfLiteRuntime): Options = stub()
        fun getRuntime(): TfLiteRuntime = stub()
        open fun setUseXNNPACK(useXNNPACK: Boolean): Options = stub()
        fun getUseXNNPACK(): Boolean = stub()
    }

    fun run(input: Any?, output: Any?)
    fun runForMultipleInputsOutputs(inputs: Array<Any?>, outputs: Map<Int, Any?>)
    fun allocateTensors()
    fun resizeInput(idx: Int, dims: IntArray)
    fun resizeInput(idx: Int, dims: IntArray, strict: Boolean)
    fun getInputTensorCount(): Int
    fun getInputIndex(opName: String): Int
    fun getInputTensor(inputIndex: Int): Tensor
    fun getOutputTensorCount(): Int
    fun getOutputIndex(opName: String): Int
    fun getOutputTensor(outputIndex: Int): Tensor
    fun getLastNativeInferenceDurationNanoseconds(): Long?
    override fun close()

    companion object {
        fun create(modelFile: File, options: Options?): InterpreterApi = stub()
        fun create(byteBuffer: ByteBuffer, options: Options?): InterpreterApi = stub()
    }
}

/** org.tensorflow.lite.InterpreterImpl (package-private in Java). */
open class InterpreterImpl : InterpreterApi {
    open class Options : InterpreterApi.Options()

    override fun run(input: Any?, output: Any?) = stub()
    override fun runForMultipleInputsOutputs(inputs: Array<Any?>, outputs: Map<Int, Any?>) = stub()
    override fun allocateTensors() = stub()
    override fun resizeInput(idx: Int, dims: IntArray) = stub()
    override fun resizeInput(idx: Int, dims: IntArray, strict: Boolean) = stub()
    override fun getInputTensorCount(): Int = stub()
    override fun getInputIndex(opName: String): Int = stub()
    override fun getInputTensor(inputIndex: Int): Tensor = stub()
    override fun getOutputTensorCount(): Int = stub()
    override fun getOutputIndex(opName: String): Int = stub()
    override fun getOutputTensor(outputIndex: Int): Tensor = stub()
    override fun getLastNativeInferenceDurationNanoseconds(): Long? = stub()
    override fun close() = stub()
}

/** org.tensorflow.lite.Interpreter: InterpreterApi plus signatures and the experimental methods. */
class Interpreter : InterpreterImpl {
    class Options() : InterpreterImpl.Options() {
        constructor(options: InterpreterApi.Options) : this()

        override fun setNumThreads(numThreads: Int): Options = stub()
        override fun setUseNNAPI(useNNAPI: Boolean): Options = stub()
        @Deprecated("prefer NnApiDelegate.Options#setAllowFp16")
        fun setAllowFp16PrecisionForFp32(allow: Boolean): Options = stub()
        override fun addDelegate(delegate: Delegate): Options = stub()
        override fun addDelegateFactory(delegateFactory: DelegateFactory): Options = stub()
        fun setAllowBufferHandleOutput(allow: Boolean): Options = stub()
        override fun setCancellable(allow: Boolean): Options = stub()
        override fun setUseXNNPACK(useXNNPACK: Boolean): Options = stub()
        override fun setRuntime(runtime: InterpreterApi.Options.TfLiteRuntime): Options = stub()
    }

    constructor(modelFile: File)
    constructor(modelFile: File, options: Options?)
    constructor(byteBuffer: ByteBuffer)
    constructor(byteBuffer: ByteBuffer, options: Options?)

    fun runSignature(inputs: Map<String, Any>, outputs: Map<String, Any>, signatureKey: String?): Unit = stub()
    fun runSignature(inputs: Map<String, Any>, outputs: Map<String, Any>): Unit = stub()
    fun getInputTensorFromSignature(inputName: String, signatureKey: String?): Tensor = stub()
    fun getOutputTensorFromSignature(outputName: String, signatureKey: String?): Tensor = stub()
    fun getSignatureKeys(): Array<String> = stub()
    fun getSignatureInputs(signatureKey: String): Array<String> = stub()
    fun getSignatureOutputs(signatureKey: String): Array<String> = stub()
    fun resetVariableTensors(): Unit = stub()
    fun setCancelled(cancelled: Boolean): Unit = stub()
}
