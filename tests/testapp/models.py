# ruff: noqa: DJ001, DJ008, RUF012  -- test models: nullable strings exercise None round trips; no __str__ needed; Meta lists as Django documents them.
import uuid

from django.db import models

from cachefresh import CacheFreshManager


class Author(models.Model):
    name = models.CharField(max_length=100)
    age = models.IntegerField(default=0)

    objects = CacheFreshManager()


class Article(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    views = models.IntegerField(default=0)
    author = models.ForeignKey(Author, null=True, on_delete=models.CASCADE, related_name="articles")
    editor = models.ForeignKey(Author, null=True, on_delete=models.SET_NULL, related_name="edited")

    objects = CacheFreshManager()


class ArticleProxy(Article):
    class Meta:
        proxy = True


class AllTypes(models.Model):
    small = models.SmallIntegerField(null=True)
    integer = models.IntegerField(null=True)
    big = models.BigIntegerField(null=True)
    positive = models.PositiveIntegerField(null=True)
    positive_small = models.PositiveSmallIntegerField(null=True)
    positive_big = models.PositiveBigIntegerField(null=True)
    char = models.CharField(max_length=300, null=True)
    text = models.TextField(null=True)
    slug = models.SlugField(max_length=300, null=True)
    email = models.EmailField(max_length=300, null=True)
    url = models.URLField(max_length=300, null=True)
    boolean = models.BooleanField(null=True)
    floating = models.FloatField(null=True)
    decimal = models.DecimalField(max_digits=20, decimal_places=6, null=True)
    date = models.DateField(null=True)
    datetime = models.DateTimeField(null=True)
    time = models.TimeField(null=True)
    duration = models.DurationField(null=True)
    uuid = models.UUIDField(null=True)
    ip = models.GenericIPAddressField(null=True)
    json = models.JSONField(null=True)
    binary = models.BinaryField(null=True)
    author = models.ForeignKey(Author, null=True, on_delete=models.SET_NULL)
    solo = models.OneToOneField(Article, null=True, on_delete=models.SET_NULL)

    objects = CacheFreshManager()


class BigPk(models.Model):
    id = models.BigAutoField(primary_key=True)
    value = models.IntegerField(default=0)

    objects = CacheFreshManager()


class UUIDPk(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    value = models.IntegerField(default=0)

    objects = CacheFreshManager()


class CharPk(models.Model):
    code = models.CharField(primary_key=True, max_length=400)
    value = models.IntegerField(default=0)

    objects = CacheFreshManager()


class Place(models.Model):
    name = models.CharField(max_length=100)

    objects = CacheFreshManager()


class Restaurant(Place):
    """Inherits Place's CacheFreshManager, as Django managers are inherited."""

    serves_pizza = models.BooleanField(default=False)


class Listed(models.Model):
    """Cached through settings.CACHEFRESH['MODELS'], with a plain manager."""

    name = models.CharField(max_length=100)


class NotCached(models.Model):
    name = models.CharField(max_length=100)


class PublishedManager(CacheFreshManager):
    def get_queryset(self):  # type: ignore[no-untyped-def]
        return super().get_queryset().filter(published=True)


class Published(models.Model):
    """A default manager that filters: its cached_get must keep the filter."""

    title = models.CharField(max_length=100)
    published = models.BooleanField(default=False)

    # Declared in the class body: add_to_class() after creation leaves the auto-created
    # plain Manager as the default one.
    objects = PublishedManager()


class Reshaped(models.Model):
    """Its fields are changed at run time by the schema tests; nothing else may use it."""

    a = models.IntegerField(default=0)
    b = models.IntegerField(default=0)

    objects = CacheFreshManager()


class Profile(models.Model):
    """A primary key that is a one-to-one link to another model (not inheritance)."""

    author = models.OneToOneField(Author, primary_key=True, on_delete=models.CASCADE)
    bio = models.CharField(max_length=100, default="")

    objects = CacheFreshManager()


class Publisher(models.Model):
    """A unique string besides the pk: the target of a second prefetch level."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100, default="")

    objects = CacheFreshManager()


class Writer(models.Model):
    """Unique by a single-field UniqueConstraint rather than unique=True."""

    email = models.EmailField(max_length=200)
    number = models.IntegerField(null=True, unique=True)
    publisher = models.ForeignKey(Publisher, null=True, on_delete=models.SET_NULL)

    objects = CacheFreshManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["email"], name="writer_email_unique")]


class Post(models.Model):
    """Fetched by slug; walks to its writer (FK), a former writer that may be gone, and its
    editor (FK to an uncached model)."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, default="")
    # Unique, but nullable: a lookup by None is an isnull query, not an index hit.
    nickname = models.CharField(max_length=50, null=True, unique=True)
    # Unique only with a condition: not unique by itself.
    code = models.CharField(max_length=20, default="")
    writer = models.ForeignKey(Writer, null=True, on_delete=models.CASCADE, related_name="posts")
    # No constraint in the database: it can point at a deleted row (prefetch sets None).
    former = models.ForeignKey(
        Writer, null=True, db_constraint=False, on_delete=models.DO_NOTHING, related_name="+"
    )
    editor = models.ForeignKey(NotCached, null=True, on_delete=models.SET_NULL)

    objects = CacheFreshManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=~models.Q(code=""), name="post_code_unique_if_set"
            )
        ]


class PostDetail(models.Model):
    """Forward one-to-one to Post: prefetching it also sets Post's reverse cache."""

    post = models.OneToOneField(Post, null=True, on_delete=models.SET_NULL, related_name="detail")
    words = models.IntegerField(default=0)

    objects = CacheFreshManager()


class Priced(models.Model):
    """A Decimal primary key: never cached (1.5 and 1.50 would be two keys of one row)."""

    code = models.DecimalField(primary_key=True, max_digits=6, decimal_places=2)
    label = models.CharField(max_length=50)
    note = models.TextField(default="")


# Models whose construction runs code of their own: hits must be built by from_db(), never
# by cachefresh.instances' shortcut (tests/read/test_instances.py). Each records what it ran here,
# not on the instance, so that only that code's running tells the two ways apart.
CONSTRUCTION_LOG: list[tuple[str, str]] = []


class BuiltByFromDb(models.Model):
    name = models.CharField(max_length=50)

    objects = CacheFreshManager()

    @classmethod
    def from_db(cls, db, field_names, values, **kwargs):  # type: ignore[no-untyped-def]
        CONSTRUCTION_LOG.append((cls.__name__, "from_db"))
        return super().from_db(db, field_names, values, **kwargs)


class Initialised(models.Model):
    name = models.CharField(max_length=50)

    objects = CacheFreshManager()

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CONSTRUCTION_LOG.append((type(self).__name__, "__init__"))
        super().__init__(*args, **kwargs)


class InitAfterModel:
    """A mixin after Model in the MRO: Model.__init__ reaches it through super()."""

    def __init__(self) -> None:
        CONSTRUCTION_LOG.append((type(self).__name__, "mixin __init__"))
        super().__init__()


class MixedIn(models.Model, InitAfterModel):
    name = models.CharField(max_length=50)

    objects = CacheFreshManager()


class Audited(models.Model):
    """Sees every attribute assignment, as change-tracking libraries do."""

    name = models.CharField(max_length=50)

    objects = CacheFreshManager()

    def __setattr__(self, name, value):  # type: ignore[no-untyped-def]
        CONSTRUCTION_LOG.append((type(self).__name__, f"set {name}"))
        super().__setattr__(name, value)


class LoggingDescriptor(models.query_utils.DeferredAttribute):
    """A field descriptor that runs code on assignment, as FileField's does."""

    def __set__(self, instance, value):  # type: ignore[no-untyped-def]
        CONSTRUCTION_LOG.append((type(instance).__name__, f"set {self.field.attname}"))
        instance.__dict__[self.field.attname] = value


class LoggingCharField(models.CharField):  # type: ignore[type-arg]
    descriptor_class = LoggingDescriptor


class Described(models.Model):
    name = LoggingCharField(max_length=50)

    objects = CacheFreshManager()


class Attachment(models.Model):
    """A FileField: its attribute is a FieldFile, while the database holds the file's name."""

    document = models.FileField(upload_to="docs/", null=True, blank=True)

    objects = CacheFreshManager()
