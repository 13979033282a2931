"""Stories: copy clusters about the same event, across outlets, days and languages.

`gazetteer` names actors and places in English and Arabic, `features` turns an article's headline
and lead into weighted keys, `assign` decides (pure) which story a new article joins. The SQL that
stores stories is in `newsmon.store.stories`.
"""
