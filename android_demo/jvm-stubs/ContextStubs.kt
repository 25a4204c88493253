package android.content

open class Context {
    val assets: android.content.res.AssetManager get() = throw UnsupportedOperationException("stub")
}
