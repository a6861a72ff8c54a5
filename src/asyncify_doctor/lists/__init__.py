"""List files: every layout users keep function names (or import patterns) in (`layouts`), the names they
carry (`names`), writing them for a build (`formats`), what each reader really takes from them
(`readers`), and editing them in place (`edit`)."""
from .edit import add_entries, remove_entries
from .formats import FORMATS, UnrepresentableName, format_names
from .layouts import Entry, ListFile, ListFormatError, parse_list, read_list
from .names import NEWLINE_SPLIT_SINCE, emcc_entry, emcc_unmangle, emscripten_mangle, entry_matches, odd_names
from .readers import BINARYEN, CONSUMERS, EMCC, ConsumerRead, binaryen_reads, consumer_reads, emcc_reads, \
    emcc_setting_reads, list_warnings, warning_sample, written_list_notes

__all__ = ["BINARYEN", "CONSUMERS", "EMCC", "FORMATS", "NEWLINE_SPLIT_SINCE", "ConsumerRead", "Entry", "ListFile",
           "ListFormatError", "UnrepresentableName", "add_entries", "binaryen_reads", "consumer_reads", "emcc_entry",
           "emcc_reads", "emcc_setting_reads", "emcc_unmangle", "emscripten_mangle", "entry_matches", "format_names",
           "list_warnings", "odd_names", "parse_list", "read_list", "remove_entries", "warning_sample",
           "written_list_notes"]
