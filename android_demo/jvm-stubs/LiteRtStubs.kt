package org.tensorflow.lite

class Interpreter(model: java.nio.ByteBuffer, options: Options?) : AutoCloseable {
    class Options {
        fun setNumThreads(numThreads: Int): Options = this
    }

    val signatureKeys: Array<String> get() = throw UnsupportedOperationException("stub")
    fun runSignature(inputs: Map<String, Any>, outputs: Map<String, Any>, signatureKey: String) {}
    override fun close() {}
}
