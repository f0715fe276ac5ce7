"""The card dialect's additions to CommonMark, one markdown-it plugin a module, each a factory
over keyword options in mdit-py-plugins' style (`md.use(mark_plugin)`)."""
