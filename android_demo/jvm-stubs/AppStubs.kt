package android.app

open class Activity : android.content.Context() {
    open fun onCreate(savedInstanceState: android.os.Bundle?) {}
    open fun onDestroy() {}
    fun setContentView(layoutResID: Int) {}
    fun <T : android.view.View> findViewById(id: Int): T = throw UnsupportedOperationException("stub")
    fun runOnUiThread(action: () -> Unit) {}  // a Runnable in the real API (SAM-converted there)
}
