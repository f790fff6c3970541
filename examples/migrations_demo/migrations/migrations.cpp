// Every migration in this directory, in order. Written by weft makemigrations, which rewrites it
// whenever it adds a migration: do not edit. Compile this file into the program that calls
// orm::manage() or orm::migrations::migrate() (not into a static library: nothing refers to it).
#include <orm/migrations.hpp>

#include "0001_initial.hpp"
#include "0002_book_pages.hpp"

static const orm::migrations::Registration weft_migrations_registration{{
    weft_migration_0001_initial(),
    weft_migration_0002_book_pages(),
}};
