package android.view

open class View {
    fun setOnClickListener(l: ((View) -> Unit)?) {}
}
