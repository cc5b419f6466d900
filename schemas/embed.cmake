# Writes OUT: a C++ file that holds the text of EVENTS as a string constant,
# so binaries parse JSON payloads against the schema without schema files.
file(READ ${EVENTS} text)
file(WRITE ${OUT} "// Generated from schemas/events.fbs by schemas/embed.cmake. Do not edit.\n")
file(APPEND ${OUT} "#include <string_view>\nnamespace logbook {\nextern const std::string_view kEventsSchemaText;\n")
file(APPEND ${OUT} "const std::string_view kEventsSchemaText = R\"logbook_fbs(${text})logbook_fbs\";\n}\n")
