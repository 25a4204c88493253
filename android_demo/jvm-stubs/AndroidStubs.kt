// Compile-only stand-ins for the few Android and LiteRT classes that taste2vec-android and the demo app use, so that
// `make jvm-test` type-checks both with kotlinc on a machine without the Android SDK. Signatures follow the real
// APIs (android.jar 35, com.google.ai.edge.litert:litert 1.4.1) as Kotlin sees them: Java getters as properties,
// SAM interfaces as lambdas. A stub can still differ from the real API, so this proves the code compiles against
// these shapes, not that it runs. Never packaged.
package android.content.res

class AssetManager {
    fun open(fileName: String): java.io.InputStream = throw UnsupportedOperationException("stub")
}
