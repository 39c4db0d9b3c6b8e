// placeholder: implemented by the core issue
